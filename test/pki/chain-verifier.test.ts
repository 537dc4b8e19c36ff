import { describe, expect, it } from "vitest";
import { isMeshsignError } from "../../src/errors/index.js";
import { parseCertificate } from "../../src/pki/certificate.js";
import { verifyChain } from "../../src/pki/chain.js";
import { ChainVerifier } from "../../src/pki/chain-verifier.js";
import { publicKeySpki } from "../../src/pki/keys.js";
import { encodePem } from "../../src/pki/pem.js";
import { signCertificate, signerFromCertificate } from "../../src/pki/sign.js";
import {
  DAY,
  HOUR,
  key,
  makeIntermediate,
  makeRoot,
  rootTemplate,
  svidTemplate,
  type TestCa,
} from "./helpers.js";

/*
 * ChainVerifier remembers the CA part of a path per leaf issuer and checks a
 * later leaf of that issuer with one signature. Its verdict (the path, or the
 * error and its message) must be verifyChain's for every leaf in any order:
 * each sequence below runs through one verifier and is compared, leaf by
 * leaf, with a fresh verifyChain.
 */

const EC = { type: "ec", curve: "P-256" } as const;
const SPIFFE = "spiffe://cluster.local/ns/default/sa/sleep";

const root = makeRoot(EC, "cv root");
const int1 = makeIntermediate(root, EC, "cv int one");
const int2 = makeIntermediate(int1, EC, "cv int two");
/** Same name as int2, another key: its leaves must not ride on int2's remembered path. */
const impostor: TestCa = (() => {
  const k = key(EC, "cv impostor");
  const der = signCertificate(
    rootTemplate(k, [[{ type: "2.5.4.3", value: "cv int two" }]], new Date(Date.now() - HOUR), 365 * DAY),
    int1.signer,
  );
  return { key: k, der, pem: encodePem("CERTIFICATE", der), signer: signerFromCertificate(der, k) };
})();
const tight = makeIntermediate(root, EC, "cv tight", 0);
const belowTight = makeIntermediate(tight, EC, "cv below tight");

let n = 0;
function leafOf(ca: TestCa, notBefore = new Date(Date.now() - 60_000)): Uint8Array {
  return signCertificate(
    svidTemplate(publicKeySpki(key(EC, `cv leaf ${n++}`)), SPIFFE, notBefore),
    ca.signer,
  );
}

function verdict(fn: () => readonly { serialHex: string }[]): string {
  try {
    return `ok ${fn()
      .map((c) => c.serialHex)
      .join(" ")}`;
  } catch (err) {
    return isMeshsignError(err) ? `${err.code}: ${err.message}` : `non-meshsign: ${String(err)}`;
  }
}

const now = new Date();
const later = new Date(Date.now() + 400 * DAY);

const SEQUENCES: {
  name: string;
  intermediates: readonly TestCa[];
  leaves: readonly { der: Uint8Array; at: Date }[];
  expectOk: number;
}[] = [
  {
    name: "leaves of the same intermediate, one after another",
    intermediates: [int2, int1],
    leaves: [leafOf(int2), leafOf(int2), leafOf(int2)].map((der) => ({ der, at: now })),
    expectOk: 3,
  },
  {
    name: "a leaf of a same-named intermediate with another key, after a good one",
    intermediates: [int2, int1],
    leaves: [leafOf(int2), leafOf(impostor), leafOf(int2)].map((der) => ({ der, at: now })),
    expectOk: 2,
  },
  {
    name: "the same intermediates once they have expired",
    intermediates: [int2, int1],
    leaves: [
      { der: leafOf(int2), at: now },
      { der: leafOf(int2, new Date(later.getTime() - 60_000)), at: later },
    ],
    expectOk: 1,
  },
  {
    name: "a leaf that is not valid yet, after a good one",
    intermediates: [int2, int1],
    leaves: [
      { der: leafOf(int2), at: now },
      { der: leafOf(int2, new Date(Date.now() + DAY)), at: now },
    ],
    expectOk: 1,
  },
  {
    name: "a leaf the root issued directly, after a leaf of an intermediate",
    intermediates: [int2, int1],
    leaves: [leafOf(int2), leafOf(root), leafOf(int2)].map((der) => ({ der, at: now })),
    expectOk: 3,
  },
  {
    name: "leaves below an intermediate whose pathLen 0 forbids another CA under it",
    intermediates: [belowTight, tight],
    leaves: [leafOf(tight), leafOf(belowTight), leafOf(belowTight), leafOf(tight)].map((der) => ({
      der,
      at: now,
    })),
    expectOk: 2,
  },
];

describe("ChainVerifier gives verifyChain's verdict for every leaf", () => {
  for (const seq of SEQUENCES) {
    it(seq.name, () => {
      const ints = seq.intermediates.map((c) => c.der);
      const verifier = new ChainVerifier(ints, [root.der]);
      const got = seq.leaves.map(({ der, at }) => verdict(() => verifier.verify(parseCertificate(der), at)));
      const want = seq.leaves.map(({ der, at }) => verdict(() => verifyChain(der, ints, [root.der], { at })));
      expect(got).toEqual(want);
      expect(got.filter((v) => v.startsWith("ok ")).length).toBe(seq.expectOk);
    });
  }
});
