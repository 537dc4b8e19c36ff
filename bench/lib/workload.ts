/**
 * Requests prepared before timing: per identity a few keys and their
 * istio-agent-shaped CSRs, and a token from the signer the server trusts
 * (bench/lib/cluster-tokens.ts: RS256, as kube-apiserver signs projected
 * service-account tokens).
 */
import { buildCsr, generateKey, type KeySpec } from "../../src/pki/index.js";
import type { TokenMinter } from "./cluster-tokens.js";
import type { LoadItem } from "./load-protocol.js";

export type CsrKeyType = "rsa-2048" | "ecdsa-p256";

const SPECS: Record<CsrKeyType, KeySpec> = {
  "rsa-2048": { type: "rsa", bits: 2048 },
  "ecdsa-p256": { type: "ec", curve: "P-256" },
};

export interface WorkloadOptions {
  /** Signs each identity's token; the server under test must trust it. */
  readonly tokens: TokenMinter;
  readonly keyType: CsrKeyType;
  readonly identities: number;
  readonly keysPerIdentity: number;
  readonly trustDomain?: string;
  readonly namespace?: string;
  /** Lifetime of the tokens (default an hour, as kubelet's projected tokens): longer than the run. */
  readonly tokenTtlSeconds?: number;
}

/** Items ordered identity-major, so consecutive requests come from different identities. */
export async function buildWorkload(options: WorkloadOptions): Promise<LoadItem[]> {
  const trustDomain = options.trustDomain ?? "cluster.local";
  const namespace = options.namespace ?? "bench";
  const perIdentity = await Promise.all(
    Array.from({ length: options.identities }, async (_, i) => {
      const serviceAccount = `load-${i}`;
      const token = await options.tokens.mintToken({
        namespace,
        serviceAccount,
        ttlSeconds: options.tokenTtlSeconds ?? 3600,
      });
      const uri = `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
      // Generated off the main thread (libuv pool), so both cores help.
      const keys = await Promise.all(
        Array.from({ length: options.keysPerIdentity }, () => generateKey(SPECS[options.keyType])),
      );
      return keys.map((key) => ({ csr: buildCsr(key, { uris: [uri] }), token }));
    }),
  );
  const items: LoadItem[] = [];
  for (let k = 0; k < options.keysPerIdentity; k++)
    for (const list of perIdentity) items.push(list[k] as LoadItem);
  return items;
}
