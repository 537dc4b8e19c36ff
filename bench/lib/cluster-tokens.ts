/**
 * A stand-in for a cluster's service-account token signer, so the benchmark
 * verifies the tokens production verifies: kube-apiserver signs projected
 * service-account tokens RS256 with an RSA key (kubeadm's and kind's
 * `sa.key`, and the managed clusters' issuers), where meshsign's dev issuer
 * signs ES256. meshsign under test runs standalone "in earnest", as the
 * README shows: `--dev-token-issuer=false --jwks-file <jwks> --token-issuer
 * <issuer>`. ES256 costs about three times RS256 to verify (see the
 * crypto-ceiling case), so the dev issuer would make every request pay a
 * cost real clusters do not.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { calculateJwkThumbprint, exportJWK, type JWK, SignJWT } from "jose";

/** kubeadm's default `--service-account-issuer`. */
export const CLUSTER_TOKEN_ISSUER = "https://kubernetes.default.svc.cluster.local";

/** What a workload builder needs: tokens for an identity (DevTokenIssuer fits too). */
export interface TokenMinter {
  mintToken(request: { namespace: string; serviceAccount: string; ttlSeconds?: number }): Promise<string>;
}

export class ClusterTokenSigner implements TokenMinter {
  /** The JWKS meshsign is given (`--jwks-file`). */
  readonly jwksFile: string;
  readonly issuer = CLUSTER_TOKEN_ISSUER;
  readonly #key: KeyObject;
  readonly #kid: string;

  private constructor(jwksFile: string, key: KeyObject, kid: string) {
    this.jwksFile = jwksFile;
    this.#key = key;
    this.#kid = kid;
  }

  /** The signer whose key and JWKS live in `dir` (created on first use, key 0600). */
  static async loadOrCreate(dir: string): Promise<ClusterTokenSigner> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const keyFile = path.join(dir, "sa.key");
    const jwksFile = path.join(dir, "sa-jwks.json");
    if (!existsSync(keyFile)) {
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      writeFileSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
    }
    const key = createPrivateKey(readFileSync(keyFile));
    const pub: JWK = await exportJWK(key);
    const publicJwk: JWK = { kty: pub.kty, n: pub.n, e: pub.e };
    const kid = await calculateJwkThumbprint(publicJwk);
    writeFileSync(jwksFile, `${JSON.stringify({ keys: [{ ...publicJwk, kid, use: "sig", alg: "RS256" }] })}\n`);
    return new ClusterTokenSigner(jwksFile, key, kid);
  }

  /** `meshsign serve` flags that trust exactly this signer. */
  serveArgs(): string[] {
    return ["--dev-token-issuer=false", "--jwks-file", this.jwksFile, "--token-issuer", this.issuer];
  }

  /** A projected service-account token as kube-apiserver mints it for a pod (audience istio-ca). */
  mintToken(request: { namespace: string; serviceAccount: string; ttlSeconds?: number }): Promise<string> {
    const { namespace, serviceAccount } = request;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      "kubernetes.io": {
        namespace,
        pod: { name: `${serviceAccount}-0`, uid: randomUUID() },
        serviceaccount: { name: serviceAccount, uid: randomUUID() },
      },
    })
      .setProtectedHeader({ alg: "RS256", kid: this.#kid })
      .setIssuer(this.issuer)
      .setSubject(`system:serviceaccount:${namespace}:${serviceAccount}`)
      .setAudience(["istio-ca"])
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + (request.ttlSeconds ?? 3600))
      .sign(this.#key);
  }
}
