import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { decodeProtectedHeader } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { ClusterTokenSigner } from "../../bench/lib/cluster-tokens.js";
import { JwksAuthenticator } from "../../src/authn/index.js";

const dir = mkdtempSync(path.join(tmpdir(), "meshsign-cluster-tokens-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bearer = (token: string) => ({ authorization: [`Bearer ${token}`], clusterId: [] });

describe("the benchmark's cluster-like token signer", () => {
  it("mints RS256 tokens that meshsign's JWKS authenticator accepts from the JWKS file it writes", async () => {
    const signer = await ClusterTokenSigner.create(dir);
    const token = await signer.mintToken({ namespace: "bench", serviceAccount: "load-0" });
    expect(decodeProtectedHeader(token).alg).toBe("RS256");
    const auth = await JwksAuthenticator.create({
      source: { kind: "file", path: signer.jwksFile },
      issuer: signer.issuer,
      trustDomain: "cluster.local",
    });
    const caller = await auth.authenticate(bearer(token));
    expect(caller.identities).toEqual(["spiffe://cluster.local/ns/bench/sa/load-0"]);
    expect(caller.kubernetes?.podName).toBe("load-0-0");
  });

  it("writes only the public key, and a second signer's tokens are refused by the first's JWKS", async () => {
    const own = mkdtempSync(path.join(tmpdir(), "meshsign-cluster-tokens-own-"));
    try {
      const first = await ClusterTokenSigner.create(own);
      expect(readdirSync(own)).toEqual(["sa-jwks.json"]);
      const jwks = JSON.parse(readFileSync(first.jwksFile, "utf8")) as { keys: Record<string, unknown>[] };
      expect(jwks.keys).toHaveLength(1);
      expect(Object.keys(jwks.keys[0] ?? {}).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
      const auth = await JwksAuthenticator.create({
        source: { kind: "file", path: first.jwksFile },
        issuer: first.issuer,
        trustDomain: "cluster.local",
      });
      const other = await ClusterTokenSigner.create(path.join(own, "other"));
      const forged = await other.mintToken({ namespace: "bench", serviceAccount: "load-0" });
      await expect(auth.authenticate(bearer(forged))).rejects.toThrow();
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });

  it("gives meshsign serve the flags that trust only it", async () => {
    const signer = await ClusterTokenSigner.create(dir);
    expect(signer.serveArgs()).toEqual([
      "--dev-token-issuer=false",
      "--jwks-file",
      signer.jwksFile,
      "--token-issuer",
      "https://kubernetes.default.svc.cluster.local",
    ]);
  });
});
