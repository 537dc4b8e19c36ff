/**
 * The SPIFFE bundle document (SPIFFE Trust Domain and Bundle §4): one
 * `x509-svid` JWK per distinct root with its certificate in `x5c`, the key
 * parameters matching that certificate (go-spiffe's JWK reader rejects a
 * mismatch), the sequence advancing exactly when the set of roots changes,
 * and the persisted sequence never going back (file and ConfigMap).
 */
import { createPublicKey, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { CONFIGMAPS, type ConfigMap } from "../../src/api/types.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import {
  BUNDLE_SEQUENCE_CONFIGMAP,
  buildSpiffeBundle,
  bundleContentDigest,
  ConfigMapBundleSequence,
  FileBundleSequence,
  nextBundleSequence,
  parseSpiffeBundle,
  rootsDigest,
  spiffeBundleToPem,
} from "../../src/trust/index.js";
import { openssl } from "../lib/openssl.js";
import { TempDir } from "../lib/temp-dir.js";
import { rootPem } from "./lib/roots.js";

const tmp = new TempDir("meshsign-spiffe-bundle-");
afterAll(() => tmp.remove());

/** A self-signed CA certificate made by openssl, for key types the test helper does not make. */
function opensslRoot(name: string, newkey: string): string {
  const r = openssl(["req", "-x509", "-newkey", newkey, "-nodes", "-keyout", tmp.path(`${name}.key`), "-out", tmp.path(`${name}.pem`), "-subj", `/CN=${name}`, "-days", "1", "-addext", "basicConstraints=critical,CA:TRUE"]);
  expect(r.status, r.output).toBe(0);
  return readFileSync(tmp.path(`${name}.pem`), "utf8");
}

const ecRoot = await rootPem("ec root");
const otherEcRoot = await rootPem("second ec root");
const rsaRoot = opensslRoot("rsa-root", "rsa:2048");
const edRoot = opensslRoot("ed-root", "ed25519");

describe("buildSpiffeBundle", () => {
  const cases: Record<string, { pem: string; kty: string; count: number }> = {
    "publishes an ECDSA root as an EC key": { pem: ecRoot, kty: "EC", count: 1 },
    "publishes an RSA root as an RSA key": { pem: rsaRoot, kty: "RSA", count: 1 },
    "publishes an Ed25519 root as an OKP key": { pem: edRoot, kty: "OKP", count: 1 },
    "publishes both roots during a rotation": { pem: ecRoot + otherEcRoot, kty: "EC", count: 2 },
    "publishes a root listed twice once": { pem: ecRoot + ecRoot, kty: "EC", count: 1 },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const doc = buildSpiffeBundle(c.pem, { sequence: 7, refreshHintSeconds: 300 });
      expect(doc.spiffe_sequence).toBe(7);
      expect(doc.spiffe_refresh_hint).toBe(300);
      expect(doc.keys).toHaveLength(c.count);
      for (const key of doc.keys) {
        expect(key.use).toBe("x509-svid");
        expect(key.kty).toBe(c.kty);
        expect(key.x5c).toHaveLength(1);
        // Public parameters only, and the same key as the certificate's.
        for (const secret of ["d", "p", "q", "dp", "dq", "qi"]) expect(key).not.toHaveProperty(secret);
        const cert = new X509Certificate(Buffer.from(key.x5c[0], "base64"));
        const { use: _use, x5c: _x5c, ...jwk } = key;
        const fromJwk = createPublicKey({ key: jwk as never, format: "jwk" }).export({ type: "spki", format: "der" });
        expect(Buffer.compare(fromJwk, cert.publicKey.export({ type: "spki", format: "der" }))).toBe(0);
      }
    });
  }

  it("turns back into the same roots as PEM", () => {
    const doc = buildSpiffeBundle(`${ecRoot}\n\n${otherEcRoot}`, { sequence: 1, refreshHintSeconds: 60 });
    const pem = spiffeBundleToPem(doc);
    expect(pem).toBe(ecRoot + otherEcRoot);
  });

  it("refuses a bundle without a certificate", () => {
    expect(() => buildSpiffeBundle("not a pem", { sequence: 1, refreshHintSeconds: 60 })).toThrow(/holds no certificate/);
  });

  it("refuses a certificate that does not parse, naming its position", () => {
    const junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    expect(() => buildSpiffeBundle(ecRoot + junk, { sequence: 1, refreshHintSeconds: 60 })).toThrow(/root 2 /);
  });

  it("refuses a refresh hint below one second", () => {
    expect(() => buildSpiffeBundle(ecRoot, { sequence: 1, refreshHintSeconds: 0 })).toThrow(/refresh_hint/);
  });
});

describe("nextBundleSequence", () => {
  it("starts at 1", () => {
    expect(nextBundleSequence(undefined, ecRoot, 300).sequence).toBe(1);
  });
  it("keeps the number while the roots are the same, however the PEM is ordered or spaced", () => {
    expect(rootsDigest(`${otherEcRoot}\n${ecRoot}`)).toBe(rootsDigest(ecRoot + otherEcRoot));
    const first = nextBundleSequence(undefined, ecRoot + otherEcRoot, 300);
    expect(nextBundleSequence(first, `${otherEcRoot}\n${ecRoot}${ecRoot}`, 300)).toBe(first);
  });
  it("increments when only the refresh hint changes: it is part of the bundle's contents", () => {
    const first = nextBundleSequence(undefined, ecRoot, 300);
    expect(nextBundleSequence(first, ecRoot, 60).sequence).toBe(2);
  });
  it("increments when a root is added and again when one is removed", () => {
    const one = nextBundleSequence(undefined, ecRoot, 300);
    const two = nextBundleSequence(one, ecRoot + otherEcRoot, 300);
    const three = nextBundleSequence(two, otherEcRoot, 300);
    expect([one.sequence, two.sequence, three.sequence]).toEqual([1, 2, 3]);
    expect(three.contentDigest).toBe(bundleContentDigest(otherEcRoot, 300));
  });
});

describe("parseSpiffeBundle", () => {
  it("reads what buildSpiffeBundle wrote", () => {
    const doc = buildSpiffeBundle(ecRoot + rsaRoot, { sequence: 3, refreshHintSeconds: 120 });
    const back = parseSpiffeBundle(JSON.stringify(doc));
    expect(back.spiffe_sequence).toBe(3);
    expect(back.spiffe_refresh_hint).toBe(120);
    expect(spiffeBundleToPem(back)).toBe(spiffeBundleToPem(doc));
  });

  const bad: Record<string, string> = {
    "text that is not JSON": "{",
    "a JSON array": "[]",
    "a document without keys": "{}",
    "a negative sequence": '{"keys":[],"spiffe_sequence":-1}',
    "a fractional refresh hint": '{"keys":[],"spiffe_refresh_hint":1.5}',
    "an x509-svid key with two certificates": '{"keys":[{"kty":"EC","use":"x509-svid","x5c":["AA==","AA=="]}]}',
    "an x509-svid key whose certificate does not parse": '{"keys":[{"kty":"EC","use":"x509-svid","x5c":["AAAA"]}]}',
    "a key that is not an object": '{"keys":[7]}',
  };
  for (const [name, text] of Object.entries(bad)) {
    it(`refuses ${name}`, () => {
      expect(() => parseSpiffeBundle(text)).toThrow(/the SPIFFE bundle/);
    });
  }

  it("skips keys of other uses (jwt-svid)", () => {
    const doc = buildSpiffeBundle(ecRoot, { sequence: 1, refreshHintSeconds: 60 });
    const withJwt = { ...doc, keys: [...doc.keys, { kty: "EC", use: "jwt-svid", kid: "k", crv: "P-256", x: "", y: "" }] };
    expect(parseSpiffeBundle(JSON.stringify(withJwt)).keys).toHaveLength(1);
  });
});

describe("FileBundleSequence", () => {
  it("persists the number across instances (a restart) and advances only on a change", async () => {
    const file = tmp.path("seq-1.json");
    expect(await new FileBundleSequence(file).read()).toBeUndefined();
    expect((await new FileBundleSequence(file).advance(ecRoot, 300)).sequence).toBe(1);
    expect((await new FileBundleSequence(file).advance(ecRoot, 300)).sequence).toBe(1);
    expect((await new FileBundleSequence(file).advance(ecRoot + otherEcRoot, 300)).sequence).toBe(2);
    expect((await new FileBundleSequence(file).read())?.sequence).toBe(2);
  });

  it("counts two changes in a row twice", async () => {
    const seq = new FileBundleSequence(tmp.path("seq-2.json"));
    const [a, b] = await Promise.all([seq.advance(ecRoot, 300), seq.advance(otherEcRoot, 300)]);
    expect([a.sequence, b.sequence]).toEqual([1, 2]);
  });

  it("refuses a damaged file instead of starting again at 1", async () => {
    const file = tmp.path("seq-3.json");
    writeFileSync(file, '{"sequence":"x"}');
    const err = await new FileBundleSequence(file).advance(ecRoot, 300).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_CONFIG_INVALID")).toBe(true);
    expect(String(err)).toMatch(/seq-3\.json does not hold a valid SPIFFE bundle sequence/);
  });
});

describe("ConfigMapBundleSequence", () => {
  it("keeps the number in a ConfigMap and advances it on a change", async () => {
    const store = new MemoryStore();
    const seq = new ConfigMapBundleSequence({ store, namespace: "meshsign-system" });
    expect(await seq.read()).toBeUndefined();
    expect((await seq.advance(ecRoot, 300)).sequence).toBe(1);
    expect((await seq.advance(ecRoot + otherEcRoot, 300)).sequence).toBe(2);
    const cm = await store.get<ConfigMap>(CONFIGMAPS, "meshsign-system", BUNDLE_SEQUENCE_CONFIGMAP);
    expect(cm?.data?.["spiffe-sequence"]).toBe("2");
  });

  it("gives replicas that see the same rotation one number, not one each", async () => {
    const store = new MemoryStore();
    const replicas = [0, 1, 2].map(() => new ConfigMapBundleSequence({ store, namespace: "ns" }));
    await replicas[0]?.advance(ecRoot, 300);
    const seen = await Promise.all(replicas.map((r) => r.advance(ecRoot + otherEcRoot, 300)));
    expect(seen.map((s) => s.sequence)).toEqual([2, 2, 2]);
  });

  it("refuses a ConfigMap whose number was edited into something else", async () => {
    const store = new MemoryStore();
    await store.create(CONFIGMAPS, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: BUNDLE_SEQUENCE_CONFIGMAP, namespace: "ns" }, data: { "spiffe-sequence": "-4", "roots-sha256": "00" } });
    await expect(new ConfigMapBundleSequence({ store, namespace: "ns" }).advance(ecRoot, 300)).rejects.toThrow(/does not hold a valid SPIFFE bundle sequence/);
  });
});

describe("parseSpiffeBundle on arbitrary input", () => {
  const good = JSON.stringify(buildSpiffeBundle(ecRoot, { sequence: 1, refreshHintSeconds: 60 }));

  it("either returns a bundle of parseable x509-svid keys or throws ERR_CERT_INVALID, for any JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        checkOutcome(JSON.stringify(value));
      }),
      { numRuns: 500 },
    );
  });

  it("does the same for a valid bundle with bytes changed", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 32, max: 126 })), { minLength: 1, maxLength: 8 }), (edits) => {
        const chars = [...good];
        for (const [at, code] of edits) chars[at] = String.fromCharCode(code);
        checkOutcome(chars.join(""));
      }),
      { numRuns: 300 },
    );
  });

  function checkOutcome(text: string): void {
    let doc: ReturnType<typeof parseSpiffeBundle>;
    try {
      doc = parseSpiffeBundle(text);
    } catch (err) {
      expect(isMeshsignError(err, "ERR_CERT_INVALID")).toBe(true);
      return;
    }
    for (const key of doc.keys) {
      expect(key.use).toBe("x509-svid");
      expect(() => new X509Certificate(Buffer.from(key.x5c[0], "base64"))).not.toThrow();
    }
    expect(Number.isSafeInteger(doc.spiffe_sequence)).toBe(true);
  }
});
