import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JwksAuthenticator } from "../../src/authn/index.js";
import { MeshsignError } from "../../src/errors/index.js";
import type { TestKey } from "./helpers.js";
import { bearer, ISSUER, jwksOf, kubeClaims, makeKey, NOW_SECONDS, sign } from "./helpers.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

/** A self-signed serving certificate for 127.0.0.1, standing in for the cluster CA + API server. */
async function servingCert(): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "02",
    name: "CN=kubernetes",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"],
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "ip", value: "127.0.0.1" }])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
  return {
    certPem: cert.toString("pem"),
    keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/.{64}/g, "$&\n")}\n-----END PRIVATE KEY-----\n`,
  };
}

describe("JwksAuthenticator over https, as in a cluster", () => {
  let server: https.Server;
  let url = "";
  let dir = "";
  let key: TestKey;
  const seen: (string | undefined)[] = [];

  beforeAll(async () => {
    key = await makeKey("RS256", "cluster-key");
    const { certPem, keyPem } = await servingCert();
    dir = await mkdtemp(path.join(tmpdir(), "meshsign-https-"));
    await writeFile(path.join(dir, "ca.crt"), certPem);
    await writeFile(path.join(dir, "token"), "pod-sa-token");
    server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
      seen.push(req.headers.authorization);
      if (req.url !== "/openid/v1/jwks" || req.headers.authorization !== "Bearer pod-sa-token") {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/jwk-set+json" }).end(JSON.stringify(jwksOf(key)));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/openid/v1/jwks`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it("fetches the JWKS trusting the given CA file and sending the token file's token", async () => {
    const auth = await JwksAuthenticator.create({
      source: {
        kind: "url",
        url,
        caFile: path.join(dir, "ca.crt"),
        bearerTokenFile: path.join(dir, "token"),
      },
      issuer: ISSUER,
      trustDomain: "cluster.local",
      clock: () => NOW_SECONDS * 1000,
    });
    const caller = await auth.authenticate(bearer(await sign(key, kubeClaims("istio-system", "ztunnel"))));
    expect(caller.identities).toEqual(["spiffe://cluster.local/ns/istio-system/sa/ztunnel"]);
    expect(seen.at(-1)).toBe("Bearer pod-sa-token");
  });

  it("refuses to fetch from a server the CA file does not vouch for", async () => {
    const err = await JwksAuthenticator.create({
      source: { kind: "url", url, bearerTokenFile: path.join(dir, "token") },
      issuer: ISSUER,
      trustDomain: "cluster.local",
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MeshsignError);
    expect((err as MeshsignError).code).toBe("ERR_AUTHN_BACKEND_UNAVAILABLE");
    expect((err as MeshsignError).message).toContain(url);
  });

  it("reports a missing token file as a configuration error naming it", async () => {
    const missing = path.join(dir, "no-such-token");
    const err = await JwksAuthenticator.create({
      source: { kind: "url", url, caFile: path.join(dir, "ca.crt"), bearerTokenFile: missing },
      issuer: ISSUER,
      trustDomain: "cluster.local",
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as MeshsignError).code).toBe("ERR_CONFIG_INVALID");
    expect((err as MeshsignError).message).toContain(missing);
  });
});
