import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
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
    const signer = await ClusterTokenSigner.loadOrCreate(dir);
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

  it("keeps its key across loads (0600), so tokens minted later still verify", async () => {
    const first = await ClusterTokenSigner.loadOrCreate(dir);
    const jwks = readFileSync(first.jwksFile, "utf8");
    const again = await ClusterTokenSigner.loadOrCreate(dir);
    expect(readFileSync(again.jwksFile, "utf8")).toBe(jwks);
    expect(statSync(path.join(dir, "sa.key")).mode & 0o777).toBe(0o600);
    expect(jwks).not.toMatch(/"d"|"p"|"q"/);
  });

  it("gives meshsign serve the flags that trust only it", async () => {
    const signer = await ClusterTokenSigner.loadOrCreate(dir);
    expect(signer.serveArgs()).toEqual([
      "--dev-token-issuer=false",
      "--jwks-file",
      signer.jwksFile,
      "--token-issuer",
      "https://kubernetes.default.svc.cluster.local",
    ]);
  });
});
