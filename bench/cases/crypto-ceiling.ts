/**
 * Ceiling 2: the node:crypto work one CreateCertificate needs, measured in
 * this process as ops per CPU-second (= per core): verify the RS256 token
 * (a cluster's service-account token; node:crypto with a KeyObject, as
 * src/authn's JWKS authenticator does it, and jose's WebCrypto path for
 * comparison; ES256, the dev issuer's, for comparison too), import the CSR's
 * public key, verify the CSR signature (proof of possession), sign the leaf
 * with the ECDSA P-256 CA key.
 */
import { createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { createLocalJWKSet, exportJWK, jwtVerify, SignJWT } from "jose";
import {
  buildCsrDer,
  generateKeySync,
  publicKeySpki,
  selfSignedSigner,
  signCertificate,
} from "../../src/pki/index.js";
import * as f from "../lib/format.js";
import type { BenchCase, BenchContext, CaseReport } from "./types.js";
import { keyPairSync } from "../../test/lib/key-pair.js";

/** Each operation runs this long (after a short warm-up). */
const RUN_MS = 700;
/** jose verifies through WebCrypto, which is asynchronous: keep several in flight, like concurrent requests. */
const JOSE_IN_FLIGHT = 16;

interface OpResult {
  readonly name: string;
  readonly opsPerCpuSecond: number;
  readonly usPerOp: number;
  readonly opsPerWallSecond: number;
}

async function measure(name: string, op: () => unknown, inFlight = 1): Promise<OpResult> {
  const loop = async (ms: number): Promise<number> => {
    let n = 0;
    const end = performance.now() + ms;
    const lane = async () => {
      while (performance.now() < end) {
        await op();
        n++;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
    return n;
  };
  await loop(100);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const n = await loop(RUN_MS);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    name,
    opsPerCpuSecond: (n * 1000) / cpuMs,
    usPerOp: (cpuMs * 1000) / n,
    opsPerWallSecond: (n * 1000) / wallMs,
  };
}

const syncOp = (op: () => unknown) => () => {
  op();
};

export const cryptoCeilingCase: BenchCase = {
  name: "crypto-ceiling",
  summary: "node:crypto operations of one request, ops per CPU-second",
  inDefaultRun: true,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    ctx.log("crypto-ceiling: measuring token verify, CSR key import and verify, leaf sign");
    // The token: RS256 with a kid, as kube-apiserver signs service-account tokens, verified against a local JWKS.
    const issuer = "https://kubernetes.default.svc.cluster.local";
    const now = Math.floor(Date.now() / 1000);
    const mint = (alg: "RS256" | "ES256", key: KeyObject) =>
      new SignJWT({
        "kubernetes.io": { namespace: "bench", serviceaccount: { name: "load-0", uid: "0" } },
      })
        .setProtectedHeader({ alg, kid: "bench", typ: "JWT" })
        .setIssuer(issuer)
        .setSubject("system:serviceaccount:bench:load-0")
        .setAudience(["istio-ca"])
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .sign(key);
    const rsaToken = keyPairSync("rsa", { modulusLength: 2048 });
    const ecToken = keyPairSync("ec", { namedCurve: "P-256" });
    const jwks = createLocalJWKSet({
      keys: [{ ...(await exportJWK(rsaToken.publicKey)), kid: "bench", alg: "RS256", use: "sig" }],
    });
    const token = await mint("RS256", rsaToken.privateKey);
    const verifyOptions = { issuer, audience: ["istio-ca"], algorithms: ["RS256", "ES256"] };
    const signed = (jwt: string) => {
      const [h, p, s] = jwt.split(".") as [string, string, string];
      return { input: Buffer.from(`${h}.${p}`), signature: Buffer.from(s, "base64url") };
    };
    const rs256 = signed(token);
    const es256 = signed(await mint("ES256", ecToken.privateKey));

    // CSRs: the signed bytes of real istio-agent-shaped CSRs.
    const uri = "spiffe://cluster.local/ns/bench/sa/load-0";
    const csrFor = (key: KeyObject) => {
      const der = Buffer.from(buildCsrDer(key, { uris: [uri] }));
      const pub = createPublicKey(key);
      return {
        spki: Buffer.from(publicKeySpki(key)),
        jwk: pub.export({ format: "jwk" }),
        info: der,
        signature: sign("sha256", der, key),
        pub,
      };
    };
    const rsa = csrFor(generateKeySync({ type: "rsa", bits: 2048 }));
    const ec = csrFor(generateKeySync({ type: "ec", curve: "P-256" }));

    // The leaf: a real SVID-shaped TBS signed by an ECDSA P-256 CA key held as a KeyObject.
    const caKey = generateKeySync({ type: "ec", curve: "P-256" });
    const leafTemplate = {
      publicKeySpki: rsa.spki,
      uris: [uri],
      isCA: false,
      keyUsage: ["digitalSignature", "keyEncipherment"] as const,
      extKeyUsage: ["serverAuth", "clientAuth"] as const,
      notBefore: new Date(Date.now() - 300_000),
      notAfter: new Date(Date.now() + 86_400_000),
    };
    const caTemplate = {
      ...leafTemplate,
      publicKeySpki: publicKeySpki(caKey),
      uris: [],
      subject: [[{ type: "2.5.4.10", value: "bench" }]],
      isCA: true,
      keyUsage: ["keyCertSign"] as const,
      extKeyUsage: [],
    };
    const leafBytes = Buffer.from(signCertificate(leafTemplate, selfSignedSigner(caTemplate, caKey)));

    const ops: OpResult[] = [];
    const run = async (name: string, op: () => unknown, inFlight = 1) => {
      const r = await measure(name, op, inFlight);
      ops.push(r);
      return r;
    };
    await run(
      `jose jwtVerify RS256, local JWKS (${JOSE_IN_FLIGHT} in flight; for comparison)`,
      () => jwtVerify(token, jwks, verifyOptions),
      JOSE_IN_FLIGHT,
    );
    const jwt = await run(
      "node:crypto verify RS256 with a KeyObject (a cluster's token signature, as src/authn verifies it)",
      syncOp(() => verify("sha256", rs256.input, rsaToken.publicKey, rs256.signature)),
    );
    await run(
      "node:crypto verify ES256 with a KeyObject (a dev-issuer token; for comparison)",
      syncOp(() =>
        verify("sha256", es256.input, { key: ecToken.publicKey, dsaEncoding: "ieee-p1363" }, es256.signature),
      ),
    );
    await run(
      "import CSR public key, RSA-2048 (createPublicKey, SPKI DER)",
      syncOp(() => createPublicKey({ key: rsa.spki, format: "der", type: "spki" })),
    );
    await run(
      "import CSR public key, P-256 (createPublicKey, SPKI DER)",
      syncOp(() => createPublicKey({ key: ec.spki, format: "der", type: "spki" })),
    );
    // src/pki imports CSR keys as JWKs, which skips OpenSSL 3's generic decoder; the per-request sums use this path.
    const rsaImport = await run(
      "import CSR public key, RSA-2048 (createPublicKey, JWK: src/pki's path)",
      syncOp(() => createPublicKey({ key: rsa.jwk, format: "jwk" })),
    );
    const ecImport = await run(
      "import CSR public key, P-256 (createPublicKey, JWK: src/pki's path)",
      syncOp(() => createPublicKey({ key: ec.jwk, format: "jwk" })),
    );
    const rsaVerify = await run(
      "verify CSR signature, RSA-2048 PKCS#1 v1.5 SHA-256",
      syncOp(() => verify("sha256", rsa.info, rsa.pub, rsa.signature)),
    );
    const ecVerify = await run(
      "verify CSR signature, ECDSA P-256 SHA-256",
      syncOp(() => verify("sha256", ec.info, ec.pub, ec.signature)),
    );
    const leafSign = await run(
      "sign the leaf, ECDSA P-256 SHA-256 (CA KeyObject)",
      syncOp(() => sign("sha256", leafBytes, caKey)),
    );

    const cores = ctx.options.workers;
    const perRequest = (parts: OpResult[]) => parts.reduce((s, o) => s + o.usPerOp, 0);
    const rsaUs = perRequest([jwt, rsaImport, rsaVerify, leafSign]);
    const ecUs = perRequest([jwt, ecImport, ecVerify, leafSign]);
    const rows = ops.map((o) => [o.name, f.int(o.opsPerCpuSecond), f.us(o.usPerOp)]);
    rows.push([
      "one request, RSA-2048 CSR (token + import + verify + sign)",
      f.int(1e6 / rsaUs),
      f.us(rsaUs),
    ]);
    rows.push([
      "one request, ECDSA P-256 CSR (token + import + verify + sign)",
      f.int(1e6 / ecUs),
      f.us(ecUs),
    ]);
    ctx.log(
      `crypto-ceiling: one RSA-2048 request needs ${f.us(rsaUs)} of crypto (${f.int((cores * 1e6) / rsaUs)} req/s on ${cores} cores)`,
    );
    return {
      title: "Ceiling: node:crypto work of one request (per core)",
      table: { header: ["operation", "ops per CPU-second", "CPU per op"], rows },
      targets: [],
      notes: [
        `Measured in the benchmark process, ${RUN_MS} ms per operation, as operations per CPU-second of this process (so a core's worth, ` +
          "whatever thread did the work: jose verifies through WebCrypto, whose work runs on libuv's thread pool). " +
          "The per-request sums use the node:crypto RS256 token verify, the path meshsign takes for a cluster's tokens (jose's WebCrypto path costs more); " +
          "a dev-issuer ES256 token would add the difference between the two node:crypto verify rows.",
        `Crypto alone bounds CreateCertificate at about ${f.int((cores * 1e6) / rsaUs)} req/s with RSA-2048 CSRs and ` +
          `${f.int((cores * 1e6) / ecUs)} req/s with ECDSA P-256 CSRs on ${cores} cores, before TLS, HTTP/2, protobuf, ASN.1 and policy work.`,
      ],
      data: { ops, perRequestUs: { rsa2048: rsaUs, ecdsaP256: ecUs } },
    };
  },
};
