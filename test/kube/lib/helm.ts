/**
 * Runs Helm (built from helm.sh/helm/v4 by setup.sh) on deploy/charts/meshsign:
 * `helm lint` and `helm template`, the rendering an install would apply.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../../../src/store/types.js";
import { harnessEnv, repoRoot } from "../harness.js";

export const CHART = path.join(repoRoot, "deploy", "charts", "meshsign");

// No user or machine Helm configuration: repositories, plugins and caches in a scratch home.
const helmHome = mkdtempSync(path.join(os.tmpdir(), "meshsign-helm-"));
const helmEnv = {
  ...process.env,
  HELM_CONFIG_HOME: path.join(helmHome, "config"),
  HELM_CACHE_HOME: path.join(helmHome, "cache"),
  HELM_DATA_HOME: path.join(helmHome, "data"),
};

/** Removes the scratch Helm home (afterAll). */
export function removeHelmHome(): void {
  rmSync(helmHome, { recursive: true, force: true });
}

function helmBinary(): string {
  const helm = harnessEnv().MESHSIGN_HELM;
  if (!helm || !existsSync(helm)) throw new Error("helm not built: run bash test/kube/setup.sh");
  return helm;
}

/** `helm <args>`; resolves with its output whatever the exit code. */
export function helm(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(helmBinary(), [...args], { timeout: 60_000, env: helmEnv }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") {
        reject(err);
        return;
      }
      resolve({ code: typeof err?.code === "number" ? err.code : 0, stdout, stderr });
    });
  });
}

/** `helm template meshsign <chart> --namespace <ns> <extra>`, parsed; fails on a non-zero exit. */
export async function helmTemplate(namespace: string, extra: readonly string[] = []): Promise<KubeObject[]> {
  const out = await helm(["template", "meshsign", CHART, "--namespace", namespace, ...extra]);
  if (out.code !== 0) throw new Error(`helm template failed (${out.code}): ${out.stderr}`);
  return parseAllDocuments(out.stdout)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}
