/**
 * The CPU quota of this process's cgroup, in CPUs, or undefined when none is
 * set. Node 20's `os.availableParallelism()` (libuv 1.46) counts the CPUs the
 * process may be scheduled on, not a container's CPU limit: a pod limited to
 * 2 CPUs on a 64-core node would otherwise fork 64 workers (~90 MB each) and
 * be throttled and OOM-killed.
 */
import { readFileSync } from "node:fs";

/** cgroup v2 `cpu.max`: "<quota> <period>" in microseconds, or "max <period>" for no limit. */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === "max") return undefined;
  return quotaCpus(Number(quota), Number(period));
}

/** cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`; a quota of -1 means no limit. */
export function parseCfsQuota(quotaText: string, periodText: string): number | undefined {
  return quotaCpus(Number(quotaText.trim()), Number(periodText.trim()));
}

function quotaCpus(quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined;
  return quota / period;
}

/** Where cgroup file systems are mounted. */
export const CGROUP_ROOT = "/sys/fs/cgroup";

/**
 * This process's cgroup paths from /proc/self/cgroup: `v2` from the "0::<path>" line, `cpu` from the
 * v1 line whose controllers include cpu. In a container with its own cgroup namespace both are "/".
 */
export function parseProcCgroup(text: string): { v2?: string; cpu?: string } {
  const out: { v2?: string; cpu?: string } = {};
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, controllers = "", where = ""] = m;
    if (id === "0" && controllers === "") out.v2 = where;
    else if (controllers.split(",").includes("cpu")) out.cpu = where;
  }
  return out;
}

/**
 * The CPU quota of this process's own cgroup: cgroup v2's cpu.max, else v1's cpu controller (mounted
 * as cpu or cpu,cpuacct). The process's cgroup directory is tried first, then the mount's root (a
 * container whose cgroup is mounted at the root but /proc/self/cgroup shows the host's path).
 */
export function cgroupCpuQuota(
  root: string = CGROUP_ROOT,
  procCgroup: string | undefined = readText("/proc/self/cgroup"),
): number | undefined {
  const own = parseProcCgroup(procCgroup ?? "");
  const dirs = (mount: string, where: string | undefined) =>
    where && where !== "/" ? [`${mount}${where}`, mount] : [mount];
  for (const dir of dirs(root, own.v2)) {
    const v2 = readText(`${dir}/cpu.max`);
    if (v2 !== undefined) return parseCpuMax(v2);
  }
  for (const mount of [`${root}/cpu`, `${root}/cpu,cpuacct`]) {
    for (const dir of dirs(mount, own.cpu)) {
      const quota = readText(`${dir}/cpu.cfs_quota_us`);
      const period = readText(`${dir}/cpu.cfs_period_us`);
      if (quota !== undefined && period !== undefined) return parseCfsQuota(quota, period);
    }
  }
  return undefined;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * Cores this process tree may use: the CPUs it may be scheduled on, within the
 * cgroup quota rounded down (as Go's automaxprocs does; at least 1), never
 * more than `max`.
 */
export function usableCoreCount(cpus: number, quota: number | undefined, max: number): number {
  const byQuota = quota === undefined ? cpus : Math.floor(quota);
  return Math.max(1, Math.min(cpus, byQuota, max));
}

/**
 * Up to this many usable cores, one process serves CreateCertificate (the
 * primary, its signatures on libuv's thread pool so the other core takes
 * them); above, one worker process per core.
 */
export const SINGLE_PROCESS_MAX_CORES = 2;

/**
 * CreateCertificate processes by default for `cores` usable cores. On two
 * cores a primary and two workers cost ~2.4x the memory of one process
 * (~260 against ~110 MB under load) and ~15-20% more CPU per request (each
 * process's own event loop, GC and connection hand-off through the primary)
 * for ~10% more requests a second.
 */
export function defaultServingProcesses(cores: number, max: number): number {
  return cores <= SINGLE_PROCESS_MAX_CORES ? 1 : Math.min(cores, max);
}
