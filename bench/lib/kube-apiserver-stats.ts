/**
 * What the test kube-apiserver (test/kube/harness.ts) spends: the pids of its kube-apiserver and
 * etcd (children of this process, found by executable), and its request counter
 * `apiserver_request_total` from `/metrics`, summed, in all and for TokenReviews.
 */
import { readFileSync } from "node:fs";
import https from "node:https";
import type { KubeApiServer } from "../../test/kube/harness.js";
import { harnessEnv } from "../../test/kube/harness.js";
import { processTree } from "./proc.js";

export interface ControlPlanePids {
  readonly apiserver: number;
  readonly etcd: number;
}

/** kube-apiserver's and etcd's pids among this process's descendants. */
export function controlPlanePids(): ControlPlanePids {
  const env = harnessEnv();
  const find = (binary: string | undefined, name: string): number => {
    const pid = processTree(process.pid).find((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0")[0] === binary;
      } catch {
        return false;
      }
    });
    if (pid === undefined) throw new Error(`no ${name} process under this one`);
    return pid;
  };
  return {
    apiserver: find(env.MESHSIGN_KUBE_APISERVER, "kube-apiserver"),
    etcd: find(env.MESHSIGN_ETCD, "etcd"),
  };
}

export interface RequestCounts {
  /** Sum of every `apiserver_request_total` series. */
  readonly all: number;
  /** The series of `resource="tokenreviews"`. */
  readonly tokenReviews: number;
}

/** The API server's request counters now (the scrape itself counts as one request). */
export async function requestCounts(api: KubeApiServer): Promise<RequestCounts> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = https.get(
      `${api.server}/metrics`,
      { ca: api.caPem, headers: { authorization: `Bearer ${api.adminToken}` }, timeout: 30_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics answered ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("/metrics timed out")));
  });
  return parseRequestCounts(text);
}

/** Sums the `apiserver_request_total` series of a Prometheus text exposition. */
export function parseRequestCounts(text: string): RequestCounts {
  let all = 0;
  let tokenReviews = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (!Number.isFinite(value)) continue;
    all += value;
    if (line.includes('resource="tokenreviews"')) tokenReviews += value;
  }
  return { all, tokenReviews };
}
