import type { Metadata, ServerUnaryCall, ServiceError } from "@grpc/grpc-js";
import { Metadata as GrpcMetadata, status } from "@grpc/grpc-js";
import pino from "pino";
import { Registry } from "prom-client";
import { beforeAll, describe, expect, it } from "vitest";
import { checkIssuedForWorkload } from "../../src/csr-service/check-issued.js";
import { createCertificateHandler } from "../../src/csr-service/handler.js";
import { CsrMetrics } from "../../src/csr-service/metrics.js";
import { isMeshsignError } from "../../src/errors/index.js";
import type { IstioCertificateRequest, IstioCertificateResponse } from "../../src/gen/istio/v1/auth/ca_pb.js";
import { CaIssuer } from "../../src/issuers/ca/ca-issuer.js";
import type { Issuer } from "../../src/issuers/issuer.js";
import type { CertificateTemplate } from "../../src/pki/index.js";
import { generateKeySync, publicKeySpki } from "../../src/pki/keys.js";
import { createRootCa } from "../../src/server/data-dir.js";

/*
 * What a remote issuer (Vault) returns for CreateCertificate is checked
 * before it reaches a workload. A fake remote issuer, backed by in-process
 * CAs, returns a wrong key, a chain to another root, another SAN, a longer
 * validity or usages a workload cannot use; each is refused with INTERNAL
 * naming the check, and counted.
 */

const IDENTITY = "spiffe://cluster.local/ns/default/sa/web";
const NOW = Date.now();

let mesh: { issuer: CaIssuer; rootPem: string };
let other: { issuer: CaIssuer; rootPem: string };

async function ca(): Promise<{ issuer: CaIssuer; rootPem: string }> {
  const root = await createRootCa({
    algorithm: "ecdsa-p256",
    durationMs: 86_400_000,
    trustDomain: "cluster.local",
  });
  return {
    issuer: await CaIssuer.create({
      certificatePem: root.certificatePem,
      privateKeyPem: root.keyPem,
      origin: "test",
    }),
    rootPem: root.certificatePem,
  };
}

beforeAll(async () => {
  mesh = await ca();
  other = await ca();
});

function template(overrides: Partial<CertificateTemplate> = {}): CertificateTemplate {
  return {
    publicKeySpki: publicKeySpki(generateKeySync({ type: "ec", curve: "P-256" })),
    uris: [IDENTITY],
    isCA: false,
    keyUsage: ["digitalSignature", "keyEncipherment"],
    extKeyUsage: ["serverAuth", "clientAuth"],
    notBefore: new Date(NOW - 60_000),
    notAfter: new Date(NOW + 3_600_000),
    ...overrides,
  };
}

async function signed(by: CaIssuer, t: CertificateTemplate): Promise<readonly string[]> {
  const r = await by.sign({ requestId: "t", csrPem: "", template: t });
  if (r.status !== "issued") throw new Error("not issued");
  return r.chain;
}

/** What the fake remote issuer does wrong, and the check that must catch it. */
const CASES: {
  name: string;
  check: string;
  answer: (asked: CertificateTemplate) => Promise<readonly string[]>;
}[] = [
  {
    name: "a certificate for another key",
    check: "public_key",
    answer: (t) => signed(mesh.issuer, { ...t, publicKeySpki: template().publicKeySpki }),
  },
  { name: "a chain to another root", check: "chain", answer: (t) => signed(other.issuer, t) },
  {
    name: "another URI SAN",
    check: "uri_san",
    answer: (t) => signed(mesh.issuer, { ...t, uris: ["spiffe://cluster.local/ns/kube-system/sa/admin"] }),
  },
  {
    name: "a second URI SAN",
    check: "uri_san",
    answer: (t) => signed(mesh.issuer, { ...t, uris: [IDENTITY, "spiffe://cluster.local/ns/x/sa/y"] }),
  },
  {
    name: "a CA certificate",
    check: "ca",
    answer: (t) =>
      signed(mesh.issuer, { ...t, isCA: true, keyUsage: ["keyCertSign", "cRLSign"], extKeyUsage: [] }),
  },
  {
    name: "a validity longer than asked",
    check: "validity",
    answer: (t) => signed(mesh.issuer, { ...t, notAfter: new Date(t.notAfter.getTime() + 86_400_000) }),
  },
  {
    name: "a DNS SAN nobody asked for",
    check: "san",
    answer: (t) => signed(mesh.issuer, { ...t, dnsNames: ["admin.kube-system.svc"] }),
  },
  {
    name: "an IP SAN nobody asked for",
    check: "san",
    answer: (t) => signed(mesh.issuer, { ...t, ipAddresses: ["10.0.0.1"] }),
  },
  {
    name: "a chain whose first intermediate did not issue the leaf",
    check: "chain",
    answer: async (t) => [...(await signed(mesh.issuer, t)), other.rootPem],
  },
  {
    name: "a leaf for server authentication only (a sidecar could not present it as a client)",
    check: "usage",
    answer: (t) => signed(mesh.issuer, { ...t, extKeyUsage: ["serverAuth"] }),
  },
  {
    name: "a leaf for client authentication only",
    check: "usage",
    answer: (t) => signed(mesh.issuer, { ...t, extKeyUsage: ["clientAuth"] }),
  },
  {
    name: "a leaf whose only extended key usage is anyExtendedKeyUsage (Envoy's TLS refuses it)",
    check: "usage",
    answer: (t) => signed(mesh.issuer, { ...t, extKeyUsage: ["any"] }),
  },
  {
    name: "a leaf whose key usage lacks digitalSignature (no TLS handshake signature)",
    check: "usage",
    answer: (t) => signed(mesh.issuer, { ...t, keyUsage: ["keyAgreement"] }),
  },
  {
    name: "something that is not a certificate",
    check: "parse",
    answer: async () => ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
  },
];

describe("checking what a remote issuer signed for a workload", () => {
  it("accepts a leaf for the CSR's key and the identity, inside the validity, chaining to the mesh roots", async () => {
    const t = template();
    const chain = await signed(mesh.issuer, t);
    expect(() =>
      checkIssuedForWorkload({
        chain,
        template: t,
        identity: IDENTITY,
        rootsPem: mesh.rootPem,
        now: new Date(),
      }),
    ).not.toThrow();
  });

  /** Leaves a remote issuer may sign for a workload that asked for the SVID profile, all usable. */
  const USABLE: { name: string; leaf: (asked: CertificateTemplate) => CertificateTemplate }[] = [
    {
      name: "neither a key usage nor an extended key usage extension (any use)",
      leaf: (t) => ({ ...t, keyUsage: [], extKeyUsage: [] }),
    },
    {
      name: "more extended key usages than serverAuth and clientAuth",
      leaf: (t) => ({ ...t, extKeyUsage: ["serverAuth", "clientAuth", "codeSigning"] }),
    },
    {
      name: "Vault's default role usages (digitalSignature, keyEncipherment, keyAgreement)",
      leaf: (t) => ({ ...t, keyUsage: ["digitalSignature", "keyEncipherment", "keyAgreement"] }),
    },
  ];

  for (const u of USABLE) {
    it(`accepts a leaf with ${u.name}`, async () => {
      const t = template();
      const chain = await signed(mesh.issuer, u.leaf(t));
      expect(() =>
        checkIssuedForWorkload({ chain, template: t, identity: IDENTITY, rootsPem: mesh.rootPem, now: new Date() }),
      ).not.toThrow();
    });
  }

  it("accepts an RSA key's leaf without keyEncipherment: SPIFFE asks a leaf only for digitalSignature", async () => {
    const t = template({
      publicKeySpki: publicKeySpki(generateKeySync({ type: "rsa", bits: 2048 })),
      keyUsage: ["digitalSignature", "keyEncipherment"],
    });
    const chain = await signed(mesh.issuer, { ...t, keyUsage: ["digitalSignature"] });
    expect(() =>
      checkIssuedForWorkload({ chain, template: t, identity: IDENTITY, rootsPem: mesh.rootPem, now: new Date() }),
    ).not.toThrow();
  });

  for (const c of CASES) {
    it(`refuses ${c.name} (${c.check})`, async () => {
      const t = template();
      const chain = await c.answer(t);
      let caught: unknown;
      try {
        checkIssuedForWorkload({
          chain,
          template: t,
          identity: IDENTITY,
          rootsPem: mesh.rootPem,
          now: new Date(),
        });
      } catch (err) {
        caught = err;
      }
      expect(isMeshsignError(caught, "ERR_CHAIN_INVALID")).toBe(true);
      expect((caught as { detail: { check: string } }).detail.check).toBe(c.check);
    });
  }
});

describe("CreateCertificate through a fake remote issuer", () => {
  function handlerWith(answer: (t: CertificateTemplate) => Promise<readonly string[]>) {
    const registry = new Registry();
    const metrics = new CsrMetrics(registry);
    let asked: CertificateTemplate | undefined;
    const issuer: Issuer = {
      kind: "fake-remote",
      status: () => ({ ready: true, reason: "Ready", message: "" }),
      sign: async (request) => {
        // The handler tells the issuer it checks the leaf itself (a remote issuer then checks only its CAs).
        if (request.leafCheckedByCaller !== true)
          throw new Error("the handler did not say it checks the leaf");
        return { status: "issued", chain: await answer(request.template) };
      },
    };
    const handler = createCertificateHandler({
      authenticate: async () => ({ identities: [IDENTITY], source: "jwks" }),
      policy: ({ now }) => {
        asked = template({ notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000) });
        return { identity: IDENTITY, keyAlgorithm: "ecdsa-p256", template: asked };
      },
      issuer,
      roots: () => mesh.rootPem,
      checkIssued: () => true,
      metrics,
      log: pino({ level: "silent" }),
    });
    const call = (): Promise<IstioCertificateResponse> =>
      new Promise((resolve, reject) => {
        const metadata: Metadata = new GrpcMetadata();
        metadata.set("authorization", "Bearer t");
        const request = {
          csr: "CSR",
          validityDuration: 0n,
          metadata: undefined,
        } as unknown as IstioCertificateRequest;
        handler(
          { request, metadata, getPeer: () => "127.0.0.1:50000" } as unknown as ServerUnaryCall<
            IstioCertificateRequest,
            IstioCertificateResponse
          >,
          (err: ServiceError | null | Partial<ServiceError>, value?: IstioCertificateResponse | null) =>
            err ? reject(err) : resolve(value as IstioCertificateResponse),
        );
      });
    return { call, registry };
  }

  it("answers [leaf, roots] when the remote certificate passes every check", async () => {
    const { call } = handlerWith((t) => signed(mesh.issuer, t));
    const response = await call();
    expect(response.certChain).toHaveLength(2);
    expect(response.certChain[1]).toBe(mesh.rootPem);
  });

  for (const c of CASES) {
    it(`answers INTERNAL naming the problem, and counts it, for ${c.name}`, async () => {
      const { call, registry } = handlerWith(c.answer);
      const err = (await call().then(
        () => undefined,
        (e: unknown) => e,
      )) as ServiceError;
      expect(err.code).toBe(status.INTERNAL);
      expect(err.details).toMatch(/the issuer returned a certificate meshsign refuses/);
      const counted = (
        await registry.getSingleMetric("meshsign_csr_issuer_certificates_refused_total")?.get()
      )?.values.find((v) => v.labels.check === c.check);
      expect(counted?.value).toBe(1);
    });
  }
});
