import { constants, type KeyObject, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CsrPolicy } from "../../src/authz/config.js";
import { authorizeCsr, DEFAULT_CSR_POLICY, identitiesMatch } from "../../src/authz/index.js";
import { MeshsignError } from "../../src/errors/index.js";
import { DerReader } from "../../src/pki/der/reader.js";
import { bitString, explicit, oid, sequence, smallInteger } from "../../src/pki/der/writer.js";
import {
  buildCsrDer,
  type CsrOptions,
  generateKeySync,
  type KeySpec,
  parseCsrDer,
} from "../../src/pki/index.js";
import type { KeyUsage } from "../../src/pki/template.js";
import { keyPairSync } from "../lib/key-pair.js";

const ID = "spiffe://cluster.local/ns/default/sa/sleep";
const keys = new Map<string, KeyObject>();
function k(spec: KeySpec): KeyObject {
  const id = JSON.stringify(spec);
  let v = keys.get(id);
  if (v === undefined) {
    v = generateKeySync(spec);
    keys.set(id, v);
  }
  return v;
}
const EC: KeySpec = { type: "ec", curve: "P-256" };
const ED: KeySpec = { type: "ed25519" };

/** Runs authorizeCsr; returns undefined on success or `code rule` of the failure. */
function outcome(
  opts: CsrOptions,
  expected = ID,
  policy: CsrPolicy = DEFAULT_CSR_POLICY,
  key: KeyObject = k(EC),
): string | undefined {
  const csr = parseCsrDer(buildCsrDer(key, opts));
  try {
    authorizeCsr({ csr, expectedIdentity: expected, policy });
    return undefined;
  } catch (err) {
    if (!(err instanceof MeshsignError)) throw err;
    expect(err.message.startsWith(`${err.detail.rule}: `)).toBe(true);
    return `${err.code} ${err.detail.rule}`;
  }
}

describe("identitiesMatch (istio-csr TestIdentitiesMatch)", () => {
  const cases: { name: string; a: string[]; b: string[]; want: boolean }[] = [
    { name: "both empty", a: [], b: [], want: true },
    { name: "a has one, b none", a: ["spiffe://a"], b: [], want: false },
    { name: "a none, b has one", a: [], b: ["spiffe://a"], want: false },
    { name: "the same single identity", a: ["spiffe://a"], b: ["spiffe://a"], want: true },
    { name: "different single identities", a: ["spiffe://a"], b: ["spiffe://b"], want: false },
    { name: "the same two", a: ["spiffe://a", "spiffe://b"], b: ["spiffe://a", "spiffe://b"], want: true },
    {
      name: "the same two in another order",
      a: ["spiffe://b", "spiffe://a"],
      b: ["spiffe://a", "spiffe://b"],
      want: true,
    },
    {
      name: "two with one different",
      a: ["spiffe://a", "spiffe://c"],
      b: ["spiffe://a", "spiffe://b"],
      want: false,
    },
    {
      name: "a duplicate against two distinct",
      a: ["spiffe://a", "spiffe://a"],
      b: ["spiffe://a", "spiffe://b"],
      want: false,
    },
  ];
  for (const c of cases) {
    it(`${c.name} ${c.want ? "match" : "do not match"}`, () => {
      expect(identitiesMatch(c.a, c.b)).toBe(c.want);
    });
  }
});

describe("authorizeCsr (istio-csr TestAuthRequest and reference §5)", () => {
  const cases: {
    name: string;
    opts: CsrOptions;
    want: string | undefined;
    key?: KeyObject;
    expected?: string;
  }[] = [
    {
      name: 'an istio-agent CSR (O="", critical URI SAN) is accepted',
      opts: { uris: [ID] },
      want: undefined,
    },
    { name: "a ztunnel CSR (empty subject) is accepted", opts: { subject: [], uris: [ID] }, want: undefined },
    {
      name: "a CSR with a non-critical SAN (rcgen ztunnel) is accepted",
      opts: { uris: [ID], sanCritical: false },
      want: undefined,
    },
    {
      name: "an RSA 2048 CSR is accepted",
      opts: { uris: [ID] },
      key: k({ type: "rsa", bits: 2048 }),
      want: undefined,
    },
    {
      name: "an ECDSA P-384 CSR is accepted",
      opts: { uris: [ID] },
      key: k({ type: "ec", curve: "P-384" }),
      want: undefined,
    },
    { name: "an Ed25519 CSR is accepted", opts: { uris: [ID] }, key: k(ED), want: undefined },
    {
      name: "a CSR with DNS SANs is refused",
      opts: { uris: [ID], dnsNames: ["a.example"] },
      want: "ERR_CSR_SAN_FORBIDDEN only-uri-sans",
    },
    {
      name: "a CSR with IP SANs is refused",
      opts: { uris: [ID], ipAddresses: ["10.0.0.1", "::1"] },
      want: "ERR_CSR_SAN_FORBIDDEN only-uri-sans",
    },
    {
      name: "a CSR with email SANs is refused",
      opts: { uris: [ID], emailAddresses: ["a@b.c"] },
      want: "ERR_CSR_SAN_FORBIDDEN only-uri-sans",
    },
    {
      name: "a CSR with DNS, IP and email SANs is refused",
      opts: { uris: [ID], dnsNames: ["a"], ipAddresses: ["1.1.1.1"], emailAddresses: ["a@b"] },
      want: "ERR_CSR_SAN_FORBIDDEN only-uri-sans",
    },
    {
      name: "a CSR with an otherName SAN is refused",
      opts: {
        subject: [],
        extraExtensions: [
          {
            oid: "2.5.29.17",
            critical: true,
            value: sequence(Uint8Array.from([0xa0, 0x03, 0x06, 0x01, 0x2a])),
          },
        ],
      },
      want: "ERR_CSR_SAN_FORBIDDEN only-uri-sans",
    },
    {
      name: "a CSR with a common name is refused",
      opts: { subject: [[{ type: "2.5.4.3", value: "sleep" }]], uris: [ID] },
      want: "ERR_CSR_SUBJECT_FORBIDDEN no-common-name",
    },
    {
      name: "a CSR with an empty common name is refused",
      opts: { subject: [[{ type: "2.5.4.3", value: "" }]], uris: [ID] },
      want: "ERR_CSR_SUBJECT_FORBIDDEN no-common-name",
    },
    {
      name: "a CSR with another subject attribute is accepted by default (istio-csr ignores it)",
      opts: { subject: [[{ type: "2.5.4.10", value: "Example" }]], uris: [ID] },
      want: undefined,
    },
    {
      name: "a CSR for another identity is refused",
      opts: { uris: ["spiffe://cluster.local/ns/default/sa/other"] },
      want: "ERR_CSR_SAN_MISMATCH uri-matches-identity",
    },
    {
      name: "a CSR for the same identity in another trust domain is refused",
      opts: { uris: ["spiffe://evil.local/ns/default/sa/sleep"] },
      want: "ERR_CSR_SAN_MISMATCH uri-matches-identity",
    },
    {
      name: "a CSR with an extra identity is refused",
      opts: { uris: [ID, "spiffe://cluster.local/ns/default/sa/b"] },
      want: "ERR_CSR_SAN_MISMATCH one-uri-san",
    },
    {
      name: "a CSR with the same identity twice is refused",
      opts: { uris: [ID, ID] },
      want: "ERR_CSR_SAN_MISMATCH one-uri-san",
    },
    { name: "a CSR without any SAN is refused", opts: {}, want: "ERR_CSR_SAN_MISMATCH one-uri-san" },
    {
      name: "a CSR whose URI is not a SPIFFE ID is refused",
      opts: { uris: ["https://cluster.local/ns/default/sa/sleep"] },
      want: "ERR_SPIFFE_ID_INVALID uri-is-spiffe-id",
    },
    {
      name: "a CSR whose URI has a trailing slash is refused",
      opts: { uris: [`${ID}/`] },
      want: "ERR_SPIFFE_ID_INVALID uri-is-spiffe-id",
    },
    {
      name: "a CSR asking for a CA is refused",
      opts: { uris: [ID], basicConstraints: { isCA: true } },
      want: "ERR_CSR_CA_FORBIDDEN no-basic-constraints",
    },
    {
      name: "a CSR with basicConstraints CA:false is refused too (istio-csr)",
      opts: { uris: [ID], basicConstraints: { isCA: false } },
      want: "ERR_CSR_CA_FORBIDDEN no-basic-constraints",
    },
    {
      name: "a CSR with a subjectKeyIdentifier extension is refused",
      opts: {
        uris: [ID],
        extraExtensions: [{ oid: "2.5.29.14", critical: false, value: Uint8Array.from([4, 1, 1]) }],
      },
      want: "ERR_CSR_EXTENSION_FORBIDDEN allowed-extensions",
    },
    {
      name: "a CSR with an unknown critical extension is refused",
      opts: {
        uris: [ID],
        extraExtensions: [{ oid: "1.2.3.4.5", critical: true, value: Uint8Array.from([5, 0]) }],
      },
      want: "ERR_CSR_EXTENSION_FORBIDDEN allowed-extensions",
    },
    {
      name: "a CSR with keyCertSign is refused",
      opts: { uris: [ID], keyUsage: ["digitalSignature", "keyCertSign"] },
      want: "ERR_CSR_KEY_USAGE_FORBIDDEN key-usage-allowed",
    },
    {
      name: "a CSR with codeSigning is refused",
      opts: { uris: [ID], extKeyUsage: ["serverAuth", "codeSigning"] },
      want: "ERR_CSR_EXT_KEY_USAGE_FORBIDDEN ext-key-usage-allowed",
    },
    {
      name: "a CSR with anyExtendedKeyUsage is refused",
      opts: { uris: [ID], extKeyUsage: ["any"] },
      want: "ERR_CSR_EXT_KEY_USAGE_FORBIDDEN ext-key-usage-allowed",
    },
    {
      name: "a CSR with all permitted usages is accepted",
      opts: {
        uris: [ID],
        keyUsage: ["digitalSignature", "keyEncipherment"],
        extKeyUsage: ["serverAuth", "clientAuth"],
      },
      want: undefined,
    },
  ];
  for (const c of cases) {
    it(`${c.name}`, () => {
      expect(outcome(c.opts, c.expected ?? ID, DEFAULT_CSR_POLICY, c.key ?? k(EC))).toBe(c.want);
    });
  }

  it("a CSR signed by a key other than its own is refused by signature-valid, after every other rule passed", () => {
    const der = buildCsrDer(k(EC), { uris: [ID] });
    const outer = new DerReader(der, "ERR_CSR_DER").sequence("csr");
    const info = outer.raw(outer.next());
    const alg = outer.raw(outer.next());
    const other = keyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const csr = parseCsrDer(sequence(info, alg, bitString(sign("sha256", info, other))));
    expect(() => authorizeCsr({ csr, expectedIdentity: ID, policy: DEFAULT_CSR_POLICY })).toThrow(
      expect.objectContaining({ code: "ERR_CSR_SIGNATURE", detail: { rule: "signature-valid" } }),
    );
  });

  it("an RSASSA-PSS CSR with a 20-byte salt is refused by signature-valid naming the parameters, not as a bad proof of possession", () => {
    const rsa = k({ type: "rsa", bits: 2048 });
    const der = buildCsrDer(rsa, { uris: [ID] });
    const outer = new DerReader(der, "ERR_CSR_DER").sequence("csr");
    const info = outer.raw(outer.next());
    const sha256 = sequence(oid("2.16.840.1.101.3.4.2.1"), new Uint8Array([5, 0]));
    const pss20 = sequence(
      oid("1.2.840.113549.1.1.10"),
      sequence(explicit(0, sha256), explicit(1, sequence(oid("1.2.840.113549.1.1.8"), sha256)), explicit(2, smallInteger(20))),
    );
    // A genuine signature by the CSR's own key, with the salt length its parameters name.
    const signature = sign("sha256", info, { key: rsa, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 });
    const csr = parseCsrDer(sequence(info, pss20, bitString(signature)));
    expect(() => authorizeCsr({ csr, expectedIdentity: ID, policy: DEFAULT_CSR_POLICY })).toThrow(
      expect.objectContaining({
        code: "ERR_CSR_SIGNATURE",
        message: expect.stringMatching(/signature algorithm is not accepted: RSASSA-PSS with sha256 and a 20-byte salt: only .* a salt as long as the hash/),
      }),
    );
  });

  it("a 1024-bit RSA key is refused as weak", () => {
    const weak = keyPairSync("rsa", { modulusLength: 1024 }).privateKey;
    expect(outcome({ uris: [ID] }, ID, DEFAULT_CSR_POLICY, weak)).toBe("ERR_CSR_KEY_WEAK key-allowed");
  });

  it("a P-521 key is refused by default and accepted when the allow-list has it", () => {
    const p521 = k({ type: "ec", curve: "P-521" });
    expect(outcome({ uris: [ID] }, ID, DEFAULT_CSR_POLICY, p521)).toBe("ERR_CSR_KEY_UNSUPPORTED key-allowed");
    const policy = {
      ...DEFAULT_CSR_POLICY,
      keys: { ...DEFAULT_CSR_POLICY.keys, ecCurves: ["P-256", "P-521"] as const },
    };
    expect(outcome({ uris: [ID] }, ID, policy, p521)).toBeUndefined();
  });

  it("Ed25519 and small RSA can be switched off and on by the key policy", () => {
    const noEd = { ...DEFAULT_CSR_POLICY, keys: { ...DEFAULT_CSR_POLICY.keys, ed25519: false } };
    expect(outcome({ uris: [ID] }, ID, noEd, k(ED))).toBe("ERR_CSR_KEY_UNSUPPORTED key-allowed");
    const rsa3072 = { ...DEFAULT_CSR_POLICY, keys: { ...DEFAULT_CSR_POLICY.keys, rsaMinBits: 3072 } };
    expect(outcome({ uris: [ID] }, ID, rsa3072, k({ type: "rsa", bits: 2048 }))).toBe(
      "ERR_CSR_KEY_WEAK key-allowed",
    );
  });

  const strict = { ...DEFAULT_CSR_POLICY, strictSubject: true };
  const strictCases = [
    { name: 'O=""', subject: [[{ type: "2.5.4.10", value: "" }]], want: undefined },
    { name: "an empty subject", subject: [], want: undefined },
    {
      name: "O=Example",
      subject: [[{ type: "2.5.4.10", value: "Example" }]],
      want: "ERR_CSR_SUBJECT_FORBIDDEN subject-allowed",
    },
    {
      name: 'O="" plus OU',
      subject: [[{ type: "2.5.4.10", value: "" }], [{ type: "2.5.4.11", value: "x" }]],
      want: "ERR_CSR_SUBJECT_FORBIDDEN subject-allowed",
    },
  ];
  for (const c of strictCases) {
    it(`with strictSubject a subject of ${c.name} is ${c.want === undefined ? "accepted" : "refused"}`, () => {
      expect(outcome({ subject: c.subject, uris: [ID] }, ID, strict)).toBe(c.want);
    });
  }
});

/** All subsets of `xs`. */
function powerSet<T>(xs: readonly T[]): T[][] {
  return xs.reduce<T[][]>((acc, x) => acc.concat(acc.map((s) => [...s, x])), [[]]);
}

describe("extension power sets (istio-csr extensions_test, done correctly)", () => {
  const allowedKu: KeyUsage[] = ["digitalSignature", "keyEncipherment"];
  const disallowedKu: KeyUsage[] = [
    "contentCommitment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
  ];

  it("every KeyUsage set with a disallowed bit is refused and every subset of the allowed bits is accepted", () => {
    let refused = 0;
    let accepted = 0;
    for (const bad of powerSet(disallowedKu)) {
      for (const good of powerSet(allowedKu)) {
        const got = outcome({ uris: [ID], keyUsage: [...good, ...bad] }, ID, DEFAULT_CSR_POLICY, k(ED));
        if (bad.length === 0) {
          expect(got, `${good}`).toBeUndefined();
          accepted++;
        } else {
          expect(got, `${good},${bad}`).toBe("ERR_CSR_KEY_USAGE_FORBIDDEN key-usage-allowed");
          refused++;
        }
      }
    }
    expect([accepted, refused]).toEqual([4, 127 * 4]);
  });

  const disallowedEku = [
    "2.5.29.37.0", // any
    "1.3.6.1.5.5.7.3.3", // codeSigning
    "1.3.6.1.5.5.7.3.4", // emailProtection
    "1.3.6.1.5.5.7.3.5", // ipsecEndSystem
    "1.3.6.1.5.5.7.3.6", // ipsecTunnel
    "1.3.6.1.5.5.7.3.7", // ipsecUser
    "1.3.6.1.5.5.7.3.8", // timeStamping
    "1.3.6.1.5.5.7.3.9", // OCSPSigning
    "1.3.6.1.4.1.311.10.3.3", // Microsoft server gated crypto
    "2.16.840.1.113730.4.1", // Netscape server gated crypto
    "1.3.6.1.4.1.311.2.1.22", // Microsoft commercial code signing
    "1.3.6.1.4.1.311.61.1.1", // Microsoft kernel code signing
  ];
  const allowedEku = ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"];

  it("every ExtKeyUsage set with a disallowed purpose is refused and every non-empty subset of serverAuth/clientAuth is accepted", () => {
    let refused = 0;
    let accepted = 0;
    for (const bad of powerSet(disallowedEku)) {
      for (const good of powerSet(allowedEku)) {
        const all = [...good, ...bad];
        if (all.length === 0) continue; // ExtKeyUsageSyntax is SIZE (1..MAX)
        const eku = { oid: "2.5.29.37", critical: false, value: sequence(...all.map((o) => oid(o))) };
        const got = outcome({ uris: [ID], extraExtensions: [eku] }, ID, DEFAULT_CSR_POLICY, k(ED));
        if (bad.length === 0) {
          expect(got).toBeUndefined();
          accepted++;
        } else {
          expect(got, all.join(",")).toBe("ERR_CSR_EXT_KEY_USAGE_FORBIDDEN ext-key-usage-allowed");
          refused++;
        }
      }
    }
    expect([accepted, refused]).toEqual([3, 4095 * 4]);
  });

  const extCases = [
    { name: "a single URI", opts: { uris: [ID] }, want: undefined },
    {
      name: "a single URI with every permitted usage",
      opts: {
        uris: [ID],
        keyUsage: ["digitalSignature", "keyEncipherment"] as KeyUsage[],
        extKeyUsage: ["clientAuth", "serverAuth"] as const,
      },
      want: undefined,
    },
    {
      name: "a subset of the permitted usages",
      opts: {
        uris: [ID],
        keyUsage: ["digitalSignature"] as KeyUsage[],
        extKeyUsage: ["clientAuth"] as const,
      },
      want: undefined,
    },
    {
      name: "several URIs with permitted usages (extensions pass, the identity count does not)",
      opts: { uris: [ID, `${ID}2`], keyUsage: ["digitalSignature"] as KeyUsage[] },
      want: "ERR_CSR_SAN_MISMATCH one-uri-san",
    },
    {
      name: "the permitted usages plus certSign",
      opts: { uris: [ID], keyUsage: ["digitalSignature", "keyCertSign"] as KeyUsage[] },
      want: "ERR_CSR_KEY_USAGE_FORBIDDEN key-usage-allowed",
    },
  ];
  for (const c of extCases) {
    it(`${c.name} gives ${c.want ?? "acceptance"}`, () => {
      expect(outcome(c.opts, ID, DEFAULT_CSR_POLICY, k(ED))).toBe(c.want);
    });
  }
});
