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
import { type KeyObject, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { calculateJwkThumbprint, exportJWK, type JWK, SignJWT } from "jose";
import { keyPairSync } from "../../test/lib/key-pair.js";

/** kubeadm's default `--service-account-issuer`. */
export const CLUSTER_TOKEN_ISSUER = "https://kubernetes.default.svc.cluster.local";

/** What a workload builder needs: tokens for an identity. */
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

  /**
   * A fresh signer: its RSA-2048 key stays in this process (nothing secret on
   * disk); only the public JWKS is written, to `dir`.
   */
  static async create(dir: string): Promise<ClusterTokenSigner> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey, publicKey } = keyPairSync("rsa", { modulusLength: 2048 });
    const { kty, n, e } = await exportJWK(publicKey);
    const publicJwk: JWK = { kty, n, e };
    const kid = await calculateJwkThumbprint(publicJwk);
    const jwksFile = path.join(dir, "sa-jwks.json");
    writeFileSync(jwksFile, `${JSON.stringify({ keys: [{ ...publicJwk, kid, use: "sig", alg: "RS256" }] })}\n`);
    return new ClusterTokenSigner(jwksFile, privateKey, kid);
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
