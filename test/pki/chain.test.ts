import { describe, expect, it } from "vitest";
import { isMeshsignError } from "../../src/errors/index.js";
import { parseCertificate } from "../../src/pki/certificate.js";
import { orderChain, svidResponseChain, verifyChain } from "../../src/pki/chain.js";
import { publicKeySpki } from "../../src/pki/keys.js";
import { decodePemAll, encodePem } from "../../src/pki/pem.js";
import { signCertificate } from "../../src/pki/sign.js";
import {
  DAY,
  key,
  makeIntermediate,
  makeRoot,
  openssl,
  opensslStatus,
  svidTemplate,
  TempDir,
} from "./helpers.js";

const EC = { type: "ec", curve: "P-256" } as const;
const SPIFFE = "spiffe://cluster.local/ns/default/sa/sleep";

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isMeshsignError(err) ? err.code : `non-meshsign: ${String(err)}`;
  }
}

const root1 = makeRoot(EC, "root one");
const root2 = makeRoot(EC, "root two");
const root3 = makeRoot({ type: "rsa", bits: 2048 }, "root three");
const int1 = makeIntermediate(root1, EC, "int one");
const int2 = makeIntermediate(int1, EC, "int two");
const leafDer = signCertificate(svidTemplate(publicKeySpki(key(EC, "leaf")), SPIFFE), int2.signer);
const serials = (cs: readonly { serialHex: string }[]) => cs.map((c) => c.serialHex);
const s = (...ders: Uint8Array[]) => ders.map((d) => parseCertificate(d).serialHex);

describe("orderChain", () => {
  it("a shuffled bag rooted in root1 is ordered [leaf, int2, int1, root1]", () => {
    expect(serials(orderChain([int1.der, root1.der, leafDer, int2.der]))).toEqual(
      s(leafDer, int2.der, int1.der, root1.der),
    );
  });

  it("duplicates are dropped", () => {
    expect(serials(orderChain([leafDer, int2.der, leafDer, int2.der]))).toEqual(s(leafDer, int2.der));
  });

  it("a single certificate is its own chain", () => {
    expect(serials(orderChain([leafDer]))).toEqual(s(leafDer));
  });

  const bad = [
    { name: "an empty bag", bag: () => [] },
    { name: "two certificates that do not link", bag: () => [leafDer, root2.der] },
    { name: "a gap (leaf and int1 without int2)", bag: () => [leafDer, int1.der] },
    {
      name: "a fork (two leaves from the same issuer)",
      bag: () => [
        leafDer,
        signCertificate(svidTemplate(publicKeySpki(key(EC, "leaf2")), SPIFFE), int2.signer),
        int2.der,
      ],
    },
  ];
  for (const c of bad) {
    it(`${c.name} is refused with ERR_CHAIN_INVALID`, () => {
      expect(code(() => orderChain(c.bag()))).toBe("ERR_CHAIN_INVALID");
    });
  }

  it("garbage is refused with ERR_CERT_INVALID", () => {
    expect(code(() => orderChain([Uint8Array.from([1, 2, 3])]))).toBe("ERR_CERT_INVALID");
  });

  it("a certificate from a same-named but different CA does not link (signature checked, not just names)", () => {
    const int2Cert = parseCertificate(int2.der);
    const impostor = {
      privateKey: key(EC, "impostor"),
      issuerName: int2Cert.subjectDer,
      authorityKeyId: int2Cert.subjectKeyId,
    };
    const forged = signCertificate(svidTemplate(publicKeySpki(key(EC, "leaf")), SPIFFE), impostor);
    // Same issuer name and AKI as int2, but signed by another key.
    expect(parseCertificate(forged).issuerDer).toEqual(parseCertificate(int2.der).subjectDer);
    expect(code(() => orderChain([forged, int2.der]))).toBe("ERR_CHAIN_INVALID");
  });
});

describe("verifyChain", () => {
  const at = new Date();
  it("a leaf verifies through its intermediates to root1 and returns the path", () => {
    const path = verifyChain(leafDer, [int1.der, int2.der], [root2.der, root1.der], {
      at,
      extKeyUsage: ["serverAuth", "clientAuth"],
    });
    expect(serials(path)).toEqual(s(leafDer, int2.der, int1.der, root1.der));
  });

  it("a chain not rooted in a current root is refused", () => {
    expect(code(() => verifyChain(leafDer, [int1.der, int2.der], [root2.der, root3.der], { at }))).toBe(
      "ERR_CHAIN_INVALID",
    );
  });

  it("a missing intermediate is refused", () => {
    expect(code(() => verifyChain(leafDer, [int2.der], [root1.der], { at }))).toBe("ERR_CHAIN_INVALID");
  });

  it("a leaf checked after its notAfter is refused", () => {
    expect(
      code(() =>
        verifyChain(leafDer, [int1.der, int2.der], [root1.der], { at: new Date(Date.now() + 2 * DAY) }),
      ),
    ).toBe("ERR_CHAIN_INVALID");
  });

  it("a leaf that lacks a required EKU is refused", () => {
    const t = {
      ...svidTemplate(publicKeySpki(key(EC, "leaf")), SPIFFE),
      extKeyUsage: ["serverAuth" as const],
    };
    const serverOnly = signCertificate(t, root1.signer);
    expect(code(() => verifyChain(serverOnly, [], [root1.der], { at, extKeyUsage: ["clientAuth"] }))).toBe(
      "ERR_CHAIN_INVALID",
    );
    expect(
      serials(verifyChain(serverOnly, [], [root1.der], { at, extKeyUsage: ["serverAuth"] })),
    ).toHaveLength(2);
  });

  it("a leaf used as an issuer is refused (not a CA), as openssl does", () => {
    const leafKey = key(EC, "leaf");
    const fake = {
      ...root1.signer,
      privateKey: leafKey,
      issuerName: parseCertificate(leafDer).subjectDer,
      authorityKeyId: undefined,
    };
    const t = {
      ...svidTemplate(publicKeySpki(key(EC, "grandchild")), SPIFFE),
      uris: ["spiffe://cluster.local/ns/x/sa/y"],
    };
    // The leaf has an empty subject; name it explicitly to make the link by name possible.
    const child = signCertificate({ ...t, subject: [[{ type: "2.5.4.3", value: "child" }]] }, fake);
    expect(code(() => verifyChain(child, [leafDer, int2.der, int1.der], [root1.der], { at }))).toBe(
      "ERR_CHAIN_INVALID",
    );
  });

  it("pathLen 0 on an intermediate refuses a further intermediate below it, and openssl agrees", () => {
    const tmp = new TempDir();
    try {
      const limited = makeIntermediate(root1, EC, "limited", 0);
      const below = makeIntermediate(limited, EC, "below limited");
      const leaf = signCertificate(svidTemplate(publicKeySpki(key(EC, "leaf")), SPIFFE), below.signer);
      expect(code(() => verifyChain(leaf, [limited.der, below.der], [root1.der], { at }))).toBe(
        "ERR_CHAIN_INVALID",
      );
      const rootFile = tmp.write("root.pem", root1.pem);
      const untrusted = tmp.write("ints.pem", limited.pem + below.pem);
      const leafFile = tmp.write("leaf.pem", encodePem("CERTIFICATE", leaf));
      expect(
        opensslStatus(["verify", "-CAfile", rootFile, "-untrusted", untrusted, leafFile]).status,
      ).not.toBe(0);
      // One level less is fine for both.
      const direct = signCertificate(svidTemplate(publicKeySpki(key(EC, "leaf")), SPIFFE), limited.signer);
      expect(serials(verifyChain(direct, [limited.der], [root1.der], { at }))).toHaveLength(3);
      const directFile = tmp.write("direct.pem", encodePem("CERTIFICATE", direct));
      expect(openssl(["verify", "-CAfile", rootFile, "-untrusted", untrusted, directFile]).trim()).toBe(
        `${directFile}: OK`,
      );
    } finally {
      tmp.remove();
    }
  });

  it("an expired intermediate is refused", () => {
    const k = key(EC, "old int");
    const now = Date.now();
    const oldInt = signCertificate(
      {
        publicKeySpki: publicKeySpki(k),
        subject: [[{ type: "2.5.4.3", value: "old int" }]],
        isCA: true,
        keyUsage: ["keyCertSign"],
        extKeyUsage: [],
        notBefore: new Date(now - 30 * 60_000),
        notAfter: new Date(now - 60_000),
      },
      root1.signer,
    );
    const leaf = signCertificate(
      svidTemplate(publicKeySpki(key(EC, "leaf")), SPIFFE, new Date(now - 10 * 60_000)),
      {
        privateKey: k,
        issuerName: parseCertificate(oldInt).subjectDer,
      },
    );
    expect(
      code(() => verifyChain(leaf, [oldInt], [root1.der], { at: new Date(now - 5 * 60_000) })),
    ).toBeUndefined();
    expect(code(() => verifyChain(leaf, [oldInt], [root1.der], { at: new Date(now) }))).toBe(
      "ERR_CHAIN_INVALID",
    );
  });
});

describe("svidResponseChain", () => {
  const leafPem = encodePem("CERTIFICATE", leafDer);
  it("returns [leaf, int2, int1, root1] with the root last", () => {
    const chain = svidResponseChain(leafPem, [int2.pem, int1.pem], root1.pem);
    expect(chain).toEqual([leafPem, int2.pem, int1.pem, root1.pem]);
  });

  it("with three roots configured the last element is root1, root2 and root3 concatenated", () => {
    const chain = svidResponseChain(leafPem, [int2.pem + int1.pem], root1.pem + root2.pem + root3.pem);
    expect(chain).toHaveLength(4);
    expect(chain[3]).toBe(root1.pem + root2.pem + root3.pem);
    // Middle elements hold exactly one certificate each (ztunnel's expectation).
    for (const e of chain.slice(0, 3)) expect(decodePemAll(e, "CERTIFICATE")).toHaveLength(1);
  });

  it("a self-signed root that an issuer put among the intermediates is dropped", () => {
    expect(svidResponseChain(leafPem, [int2.pem, int1.pem, root1.pem], root1.pem)).toEqual([
      leafPem,
      int2.pem,
      int1.pem,
      root1.pem,
    ]);
  });

  it("a leaf-only issuance still yields two elements (istio-agent rejects one)", () => {
    expect(svidResponseChain(leafPem, [], root1.pem)).toHaveLength(2);
  });

  it("no roots is refused with ERR_CHAIN_INVALID", () => {
    expect(code(() => svidResponseChain(leafPem, [], ""))).toBe("ERR_CHAIN_INVALID");
  });

  it("a leaf element with two certificates is refused", () => {
    expect(code(() => svidResponseChain(leafPem + int2.pem, [], root1.pem))).toBe("ERR_CHAIN_INVALID");
  });
});
