import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { ClientCertAuthenticator } from "../../src/authn/index.js";
import { MeshsignError } from "../../src/errors/index.js";
import { NOW_SECONDS } from "./helpers.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const now = NOW_SECONDS * 1000;
const clock = () => now;
const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
let keys: webcrypto.CryptoKeyPair;

beforeAll(async () => {
  keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
});

interface CertSpec {
  names?: x509.JsonGeneralName[];
  notBefore?: number;
  notAfter?: number;
  ca?: boolean;
  /** Extended key usage OIDs; no extension when absent. */
  eku?: string[];
}

async function cert(spec: CertSpec = {}): Promise<Uint8Array> {
  const names = spec.names ?? [{ type: "url", value: "spiffe://cluster.local/ns/foo/sa/bar" }];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(spec.ca ?? false, undefined, true),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, true));
  if (spec.eku !== undefined) extensions.push(new x509.ExtendedKeyUsageExtension(spec.eku));
  const c = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "",
    notBefore: new Date(spec.notBefore ?? now - 60_000),
    notAfter: new Date(spec.notAfter ?? now + 3_600_000),
    keys,
    signingAlgorithm: alg,
    extensions,
  });
  return new Uint8Array(c.rawData);
}

async function refusal(promise: Promise<unknown>): Promise<MeshsignError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MeshsignError);
  return err as MeshsignError;
}

describe("ClientCertAuthenticator", () => {
  const auth = () => new ClientCertAuthenticator({ trustDomain: "cluster.local", clock });

  it("accepts a workload SVID of the trust domain and returns its SPIFFE ID and expiry", async () => {
    const caller = await auth().authenticate({
      authorization: [],
      clusterId: [],
      peerCertificates: [await cert()],
    });
    expect(caller).toEqual({
      identities: ["spiffe://cluster.local/ns/foo/sa/bar"],
      source: "client-cert",
      expiresAt: NOW_SECONDS + 3600,
    });
  });

  it("looks only at the leaf, the first certificate of the chain", async () => {
    const leaf = await cert();
    const ca = await cert({ ca: true, names: [] });
    const caller = await auth().authenticate({
      authorization: [],
      clusterId: [],
      peerCertificates: [leaf, ca],
    });
    expect(caller.identities).toEqual(["spiffe://cluster.local/ns/foo/sa/bar"]);
  });

  const refused: [string, () => Promise<Uint8Array[] | undefined>, RegExp][] = [
    ["a connection without a client certificate", async () => undefined, /no client certificate/],
    ["an empty chain", async () => [], /no client certificate/],
    [
      "bytes that are not a certificate",
      async () => [new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])],
      /cannot be parsed/,
    ],
    ["a certificate without SAN", async () => [await cert({ names: [] })], /exactly one URI SAN/],
    [
      "a certificate with two URI SANs",
      async () => [
        await cert({
          names: [
            { type: "url", value: "spiffe://cluster.local/ns/foo/sa/bar" },
            { type: "url", value: "spiffe://cluster.local/ns/foo/sa/baz" },
          ],
        }),
      ],
      /exactly one URI SAN/,
    ],
    [
      "a certificate with a DNS SAN next to the URI",
      async () => [
        await cert({
          names: [
            { type: "url", value: "spiffe://cluster.local/ns/foo/sa/bar" },
            { type: "dns", value: "bar.foo.svc" },
          ],
        }),
      ],
      /no other names/,
    ],
    ...(
      [
        ["an IP", { type: "ip", value: "10.0.0.1" }],
        ["an email", { type: "email", value: "bar@foo.example" }],
        ["a registeredID", { type: "id", value: "1.2.3.4" }],
      ] as const
    ).map(([what, name]): [string, () => Promise<Uint8Array[] | undefined>, RegExp] => [
      `a certificate with ${what} SAN next to the URI`,
      async () => [
        await cert({ names: [{ type: "url", value: "spiffe://cluster.local/ns/foo/sa/bar" }, name] }),
      ],
      /no other names/,
    ]),
    [
      "a certificate with only a DNS SAN",
      async () => [await cert({ names: [{ type: "dns", value: "bar.foo.svc" }] })],
      /exactly one URI SAN/,
    ],
    [
      "a URI SAN that is not Istio's SPIFFE form",
      async () => [await cert({ names: [{ type: "url", value: "spiffe://cluster.local/workload/bar" }] })],
      /not spiffe:\/\//,
    ],
    [
      "a URI SAN with an https scheme",
      async () => [await cert({ names: [{ type: "url", value: "https://cluster.local/ns/foo/sa/bar" }] })],
      /not spiffe:\/\//,
    ],
    [
      "a SPIFFE ID of another trust domain",
      async () => [await cert({ names: [{ type: "url", value: "spiffe://other.mesh/ns/foo/sa/bar" }] })],
      /trust domain other.mesh, expected cluster.local/,
    ],
    [
      "an expired certificate",
      async () => [await cert({ notBefore: now - 7_200_000, notAfter: now - 1000 })],
      /expired/,
    ],
    ["a certificate not yet valid", async () => [await cert({ notBefore: now + 60_000 })], /not yet valid/],
    ["a CA certificate", async () => [await cert({ ca: true })], /CA certificate/],
    // X.509-SVID §4.4, and istio-csr's TLS layer: a client certificate must allow client (and server) auth.
    [
      "a certificate whose extended key usage is server authentication only",
      async () => [await cert({ eku: [x509.ExtendedKeyUsage.serverAuth] })],
      /extended key usage/,
    ],
    [
      "a certificate whose extended key usage is code signing only",
      async () => [await cert({ eku: [x509.ExtendedKeyUsage.codeSigning] })],
      /extended key usage/,
    ],
  ];
  it.each(refused)("refuses %s", async (_name, chain, message) => {
    const peerCertificates = await chain();
    const err = await refusal(
      auth().authenticate({
        authorization: [],
        clusterId: [],
        ...(peerCertificates ? { peerCertificates } : {}),
      }),
    );
    expect(err.code).toBe("ERR_CLIENT_CERT_INVALID");
    expect(err.message).toMatch(message);
  });
});
