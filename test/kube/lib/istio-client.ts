/**
 * Runs test/kube/istio-client (Istio's own Citadel CA client, built by
 * setup.sh) against a CA, as istio-agent would ask it for a workload SVID.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { harnessEnv } from "../harness.js";

export interface IstioClientRequest {
  readonly address: string;
  readonly rootCertFile: string;
  readonly tokenFile: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly keyType?: "rsa2048" | "rsa3072" | "ec256" | "ec384";
  readonly clusterId?: string;
  readonly trustDomain?: string;
  readonly ttlSeconds?: number;
  /** A mesh certificate chain (leaf first) and its key, presented over mTLS as istio-agent does on renewal. */
  readonly clientCertificate?: { readonly certChainFile: string; readonly keyFile: string };
}

export type IstioClientResult =
  | {
      readonly ok: true;
      readonly identity: string;
      readonly certChain: string[];
      readonly publicKeyPem: string;
    }
  | { readonly ok: false; readonly code: string | undefined; readonly error: string };

export function istioClientBinary(): string {
  const bin = harnessEnv().MESHSIGN_ISTIO_CLIENT;
  if (!bin || !existsSync(bin)) throw new Error("istio-client not built: run bash test/kube/setup.sh");
  return bin;
}

export function requestSvid(req: IstioClientRequest): Promise<IstioClientResult> {
  const args = [
    `-addr=${req.address}`,
    `-root-cert=${req.rootCertFile}`,
    `-token-file=${req.tokenFile}`,
    `-namespace=${req.namespace}`,
    `-service-account=${req.serviceAccount}`,
    `-key-type=${req.keyType ?? "ec256"}`,
    `-cluster-id=${req.clusterId ?? "Kubernetes"}`,
    `-trust-domain=${req.trustDomain ?? "cluster.local"}`,
    `-ttl=${req.ttlSeconds ?? 3600}`,
    ...(req.clientCertificate
      ? [`-cert-chain=${req.clientCertificate.certChainFile}`, `-key=${req.clientCertificate.keyFile}`]
      : []),
  ];
  return new Promise((resolve, reject) => {
    execFile(istioClientBinary(), args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (!err) {
        resolve({
          ok: true,
          ...(JSON.parse(stdout) as { identity: string; certChain: string[]; publicKeyPem: string }),
        });
        return;
      }
      // The program prints one JSON line on failure; Istio's own logs come before it.
      const last = stderr.trim().split("\n").pop() ?? "";
      try {
        const parsed = JSON.parse(last) as { error: string; code?: string };
        resolve({ ok: false, code: parsed.code, error: parsed.error });
      } catch {
        reject(new Error(`istio-client failed without a JSON answer: ${stderr}`));
      }
    });
  });
}
