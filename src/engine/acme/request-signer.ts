/**
 * A CertificateRequest signed by an ACME issuer (cert-manager's
 * `certificaterequests/acme`): one Order per request, named from the request
 * and the Order's spec and owned by the request, so a restart or a second
 * pass finds the same Order instead of ordering again. The name leaves out
 * `replaces`, which is read from the Certificate's Secret on every pass.
 *
 * - no Order yet: create it, answer pending (OrderCreated);
 * - Order failed (invalid, expired, errored): a terminal error carrying the
 *   Order's reason (the CA's problem detail), so the Certificate shows it and
 *   backs off;
 * - Order valid: the chain, checked against the CSR (key, names, validity,
 *   the usages a TLS server needs)
 *   before it is used; a certificate for another key deletes the Order (it
 *   is recreated, as cert-manager does), one not valid yet is waited for,
 *   and any other unusable one fails the request (ordering again would get
 *   the same certificate);
 * - otherwise pending (OrderPending), saying what the Order waits for.
 *
 * An Order left from an earlier request of the same name (owned by another
 * uid) is deleted first; it would otherwise answer for the new request.
 */

import { ariCertId, orderIdentifiers, verifyIssued } from "../../acme/index.js";
import { formatGoDuration, tryParseGoDuration } from "../../api/duration.js";
import { ORDERS, type Order } from "../../api/types.js";
import { MeshsignError, toMeshsignError } from "../../errors/index.js";
import type { AcmeIssuer, AcmeOrderSigner } from "../../issuers/acme/index.js";
import type { SignRequest, SignResult } from "../../issuers/issuer.js";
import { decodePemAll } from "../../pki/index.js";
import type { Store } from "../../store/types.js";
import type { Clock } from "../clock.js";
import { OID, type ParsedCsr, parseRequestCsr } from "../csr.js";
import type { EventRecorder } from "../events.js";
import { ANN } from "../lib/annotations.js";
import {
  CERTIFICATE_REQUESTS,
  CERTIFICATES,
  type Certificate,
  type CertificateRequest,
  SECRETS,
  type Secret,
} from "../lib/api.js";
import { splitPemChain } from "../lib/x509-info.js";
import { computeName } from "./lib/names.js";

const FAILED_STATES = new Set(["invalid", "expired", "errored"]);

/** A pending request is asked again after this long at the latest (Order changes wake it sooner). */
export const ORDER_PENDING_RECHECK_MS = 60_000;

export interface RequestSignerDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly events: EventRecorder;
}

/** The name of a request's Order: the request's name and a hash of the Order's spec, `replaces` left out. */
export function orderName(crName: string, spec: Order["spec"]): string {
  return computeName(crName, { ...spec, request: undefined, replaces: undefined });
}

const ownerOf = (order: Order): string | undefined =>
  order.metadata.ownerReferences?.find((o) => o.kind === "CertificateRequest")?.uid;

export class AcmeRequestSigner implements AcmeOrderSigner {
  readonly #d: RequestSignerDeps;
  constructor(deps: RequestSignerDeps) {
    this.#d = deps;
  }

  async sign(issuer: AcmeIssuer, request: SignRequest): Promise<SignResult> {
    const slash = request.requestId.indexOf("/");
    const ns = request.requestId.slice(0, slash);
    const crName = request.requestId.slice(slash + 1);
    const cr = await this.#d.store.get<CertificateRequest>(CERTIFICATE_REQUESTS, ns, crName);
    if (cr === undefined)
      throw new MeshsignError("ERR_NOT_FOUND", `CertificateRequest ${request.requestId} not found`, {
        retry: "transient",
      });
    // The engine's parse, memoized per CSR: the reconciler read this one just before, and
    // a request is asked again at every change of its Order.
    const csr = parseRequestCsr(request.csrPem);
    const replaces = await this.#replaces(issuer, cr);
    const spec = { ...orderSpec(issuer, cr, csr), ...(replaces !== undefined ? { replaces } : {}) };
    // The name hashes the spec without `replaces`: that is read from the Certificate's Secret on
    // every pass, and a Secret deleted or rewritten while a renewal's order is in flight must find
    // the same Order, not name a second one (a second ACME order for one request).
    let name = orderName(crName, spec);
    let order = await this.#d.store.get<Order>(ORDERS, ns, name);
    if (order === undefined && replaces !== undefined) {
      // An Order placed by a meshsign that hashed `replaces` into the name (before the upgrade
      // that changed it) is resumed where it is.
      const earlier = computeName(crName, { ...spec, request: undefined });
      const found = await this.#d.store.get<Order>(ORDERS, ns, earlier);
      if (found !== undefined && ownerOf(found) === cr.metadata.uid) {
        name = earlier;
        order = found;
      }
    }
    const ownerUid = order !== undefined ? ownerOf(order) : undefined;
    if (order !== undefined && ownerUid !== cr.metadata.uid) {
      await this.#d.store.delete(ORDERS, ns, name).catch(() => undefined);
      return {
        status: "pending",
        reason: "OrderPending",
        message: `Waiting for the Order ${ns}/${name} of an earlier request to be removed`,
        retryAfterMs: 1_000,
      };
    }
    if (order === undefined) {
      order = await this.#create(cr, ns, name, spec);
      return {
        status: "pending",
        reason: "OrderCreated",
        message: `Created Order resource ${ns}/${name}`,
        retryAfterMs: ORDER_PENDING_RECHECK_MS,
        started: true,
      };
    }
    const st = order.status ?? {};
    if (st.state !== undefined && FAILED_STATES.has(st.state)) {
      throw new MeshsignError(
        "ERR_ACME_ORDER_INVALID",
        `Failed to wait for order resource "${name}" to become ready: order is in "${st.state}" state: ${st.reason ?? ""}`.replace(
          /: $/,
          "",
        ),
        { retry: "terminal" },
      );
    }
    if (st.state === "valid" && st.certificate !== undefined && st.certificate !== "") {
      const chainPem = Buffer.from(st.certificate, "base64").toString("utf8");
      try {
        verifyIssued({
          chainPem,
          csrPublicKeySpki: csr.publicKeySpki,
          identifiers: orderIdentifiers(spec),
          at: new Date(this.#d.clock.now()),
        });
      } catch (err) {
        const e = toMeshsignError(err);
        const now = this.#d.clock.now();
        const notBefore = e.detail.notBeforeMs;
        if (e.detail.check === "validity" && typeof notBefore === "number" && notBefore > now) {
          // Valid from a moment ahead (the CA's clock is ahead of ours): wait for it, not a new order.
          return {
            status: "pending",
            reason: "OrderPending",
            message: `The certificate of Order ${ns}/${name} is valid from ${new Date(notBefore).toISOString()}; waiting for it`,
            retryAfterMs: notBefore - now + 1_000,
          };
        }
        if (e.detail.check !== "publicKey") {
          // Names that differ, a CA certificate, an expired one, one that cannot serve TLS (its key
          // usage or extended key usage), a chain that does not link: the CA
          // would issue the same for the same order again, so ordering again would loop (an order a
          // second, for ever). The request fails, and the Certificate backs off; the Order stays to
          // show what came back.
          throw new MeshsignError(
            "ERR_CERT_INVALID",
            `The certificate of Order ${ns}/${name} is unusable: ${e.message}`,
            { retry: "terminal", cause: err },
          );
        }
        // cert-manager deletes an Order whose certificate is for another key (it is recreated).
        await this.#d.store.delete(ORDERS, ns, name).catch(() => undefined);
        this.#d.events.record(cr, "Warning", "OrderInvalid", `Deleted Order ${ns}/${name}: ${e.message}`);
        return {
          status: "pending",
          reason: "OrderPending",
          message: `The certificate of Order ${ns}/${name} was unusable (${e.message}); ordering again`,
          retryAfterMs: 1_000,
        };
      }
      return { status: "issued", chain: splitPemChain(chainPem) };
    }
    const why = st.reason !== undefined && st.reason !== "" ? `: ${st.reason}` : "";
    return {
      status: "pending",
      reason: "OrderPending",
      message: `Waiting on certificate issuance from order ${ns}/${name}: "${st.state ?? ""}"${why}`,
      retryAfterMs: ORDER_PENDING_RECHECK_MS,
    };
  }

  /**
   * RFC 9773 `replaces`: the ARI identifier of the certificate this request renews, when the
   * Certificate's Secret holds one this issuer issued and the CA offers ARI.
   */
  async #replaces(issuer: AcmeIssuer, cr: CertificateRequest): Promise<string | undefined> {
    if (issuer.config.renewalInformationSource !== "ARI" || issuer.client.directory.renewalInfo === undefined)
      return undefined;
    const ns = cr.metadata.namespace ?? "";
    const certName = cr.metadata.annotations?.[ANN.certificateName];
    if (certName === undefined) return undefined;
    const cert = await this.#d.store.get<Certificate>(CERTIFICATES, ns, certName);
    if (cert === undefined) return undefined;
    const secret = await this.#d.store.get<Secret>(SECRETS, ns, cert.spec.secretName);
    const a = secret?.metadata.annotations ?? {};
    const ref = cr.spec.issuerRef;
    if (a[ANN.issuerName] !== ref.name || (a[ANN.issuerKind] ?? "Issuer") !== (ref.kind ?? "Issuer"))
      return undefined;
    const leaf = decodePemAll(
      Buffer.from(secret?.data?.["tls.crt"] ?? "", "base64").toString("utf8"),
      "CERTIFICATE",
    )[0];
    if (leaf === undefined) return undefined;
    try {
      return ariCertId(leaf);
    } catch {
      return undefined; // no authority key identifier: ARI cannot name it
    }
  }

  async #create(cr: CertificateRequest, ns: string, name: string, spec: Order["spec"]): Promise<Order> {
    const body: Order = {
      apiVersion: "acme.cert-manager.io/v1",
      kind: "Order",
      metadata: {
        name,
        namespace: ns,
        labels: { ...(cr.metadata.labels ?? {}) },
        annotations: { ...(cr.metadata.annotations ?? {}) },
        ownerReferences: [
          {
            apiVersion: "cert-manager.io/v1",
            kind: "CertificateRequest",
            name: cr.metadata.name ?? "",
            uid: cr.metadata.uid ?? "",
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec,
    };
    try {
      const created = await this.#d.store.create<Order>(ORDERS, body);
      this.#d.events.record(cr, "Normal", "OrderCreated", `Created Order resource ${ns}/${name}`);
      return created;
    } catch (err) {
      if (toMeshsignError(err).code !== "ERR_ALREADY_EXISTS") throw err;
      return (await this.#d.store.get<Order>(ORDERS, ns, name)) ?? body;
    }
  }
}

/** The Order's spec for a request, as cert-manager's `buildOrder` makes it. */
function orderSpec(issuer: AcmeIssuer, cr: CertificateRequest, csr: ParsedCsr): Order["spec"] {
  const cn = commonNameOf(csr);
  if (cn !== undefined && cn !== "" && !csr.dnsNames.includes(cn) && !csr.ipAddresses.includes(cn)) {
    throw new MeshsignError(
      "ERR_ACME_IDENTIFIERS_INVALID",
      `the CSR's commonName "${cn}" is not one of its dnsNames or ipAddresses, so no ACME order can include it`,
    );
  }
  if (csr.dnsNames.length === 0 && csr.ipAddresses.length === 0) {
    throw new MeshsignError(
      "ERR_ACME_IDENTIFIERS_INVALID",
      "the CSR names no DNS name or IP address to order",
    );
  }
  const durationMs = cr.spec.duration !== undefined ? tryParseGoDuration(cr.spec.duration) : undefined;
  return {
    request: cr.spec.request,
    issuerRef: { ...cr.spec.issuerRef },
    ...(cn !== undefined && cn !== "" ? { commonName: cn } : {}),
    ...(csr.dnsNames.length > 0 ? { dnsNames: [...csr.dnsNames] } : {}),
    ...(csr.ipAddresses.length > 0 ? { ipAddresses: [...csr.ipAddresses] } : {}),
    ...(issuer.config.enableDurationFeature && durationMs !== undefined
      ? { duration: formatGoDuration(durationMs) }
      : {}),
    ...(issuer.config.profile !== undefined ? { profile: issuer.config.profile } : {}),
  };
}

/** The first commonName attribute of the CSR's subject. */
function commonNameOf(csr: ParsedCsr): string | undefined {
  for (const rdn of csr.subject) for (const a of rdn) if (a.type === OID.commonName) return a.value;
  return undefined;
}
