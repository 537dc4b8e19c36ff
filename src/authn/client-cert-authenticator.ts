import { MeshsignError } from "../errors/index.js";
import { type ParsedCertificate, parseCertificate } from "../pki/index.js";
import { assertTrustDomain, parseIstioSpiffeId, serviceAccountSpiffeId } from "./lib/spiffe.js";
import type { Authenticator, AuthnInput, Caller, Clock } from "./types.js";
import { systemClock } from "./types.js";

export interface ClientCertAuthenticatorOptions {
  /** Only SPIFFE IDs of this trust domain are accepted. */
  readonly trustDomain: string;
  readonly clock?: Clock;
}

/**
 * Authenticates renewals over mTLS. The TLS layer has already verified the
 * chain against the mesh roots; this checks that the verified leaf is a
 * workload SVID of our trust domain: exactly one URI SAN, of Istio's form
 * `spiffe://<td>/ns/<ns>/sa/<sa>`, no other names, not a CA, an extended
 * key usage (if any) that allows client and server auth (or any purpose,
 * as Go reads anyExtendedKeyUsage), inside its
 * validity period. Stricter than Istio's ClientCertAuthenticator, which takes
 * every SAN as an identity (and then fails identity matching on DNS SANs).
 *
 * The caller carries no `kubernetes` info: a certificate says nothing about
 * the pod, so it can never satisfy pod-bound checks such as impersonation.
 */
export class ClientCertAuthenticator implements Authenticator {
  readonly name = "client-cert";
  private readonly trustDomain: string;
  private readonly clock: Clock;

  constructor(options: ClientCertAuthenticatorOptions) {
    this.trustDomain = assertTrustDomain(options.trustDomain);
    this.clock = options.clock ?? systemClock;
  }

  async authenticate(input: AuthnInput): Promise<Caller> {
    const leafDer = input.peerCertificates?.[0];
    if (leafDer === undefined) throw invalid("no client certificate");
    let leaf: ParsedCertificate;
    try {
      leaf = parseCertificate(leafDer);
    } catch (err) {
      throw invalid("client certificate cannot be parsed", err);
    }
    const now = this.clock();
    if (now < leaf.notBefore.getTime()) throw invalid("client certificate not yet valid");
    if (now > leaf.notAfter.getTime()) throw invalid("client certificate expired");
    if (leaf.basicConstraints?.isCA === true) {
      throw invalid("client certificate is a CA certificate");
    }
    // X.509-SVID §4.4: an EKU, when present, allows both; istio-csr's TLS layer checks clientAuth and
    // serverAuth too. The TLS handshake here checks no purpose, so a mesh certificate issued for
    // something else (serverAuth only, code signing) would otherwise authenticate.
    // anyExtendedKeyUsage passes: this check decides what istiod decides, and Go's crypto/tls
    // verifies a client certificate with x509's KeyUsages, where ExtKeyUsageAny matches every
    // purpose; a workload istiod lets renew is not refused here. The check of certificates
    // meshsign hands out (src/pki/usages.ts) refuses it instead, as BoringSSL in Envoy, their
    // user, does. test/authn/any-extended-key-usage.test.ts pins both readings.
    const ekus = leaf.extKeyUsage;
    if (
      ekus !== undefined &&
      !ekus.includes("any") &&
      !(ekus.includes("clientAuth") && ekus.includes("serverAuth"))
    ) {
      throw invalid("client certificate's extended key usage does not allow client and server authentication");
    }
    const uris = leaf.uris;
    const otherSans =
      leaf.dnsNames.length + leaf.ipAddresses.length + leaf.emailAddresses.length + leaf.otherSanCount;
    if (uris.length !== 1 || otherSans !== 0) {
      throw invalid("client certificate must carry exactly one URI SAN and no other names", undefined, {
        uriSans: uris.length,
        otherSans,
      });
    }
    const id = parseIstioSpiffeId(uris[0] ?? "");
    if (id === undefined)
      throw invalid("client certificate URI SAN is not spiffe://<trust-domain>/ns/<ns>/sa/<sa>");
    if (id.trustDomain !== this.trustDomain) {
      throw invalid(
        `client certificate is from trust domain ${id.trustDomain}, expected ${this.trustDomain}`,
      );
    }
    return {
      identities: [serviceAccountSpiffeId(id.trustDomain, id.namespace, id.serviceAccount)],
      source: "client-cert",
      expiresAt: Math.floor(leaf.notAfter.getTime() / 1000),
    };
  }
}

function invalid(message: string, cause?: unknown, detail?: Record<string, unknown>): MeshsignError {
  return new MeshsignError("ERR_CLIENT_CERT_INVALID", message, {
    ...(cause === undefined ? {} : { cause }),
    ...(detail === undefined ? {} : { detail }),
  });
}
