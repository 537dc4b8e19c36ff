/**
 * Linux /proc readers for the benchmark: the process tree of a server, its
 * resident memory, and the CPU time it spent. Sampling, not tracing: cheap
 * enough to run every 100 ms next to the load.
 */
import { readdirSync, readFileSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux, fixed by the ABI

/** `pid` and all its descendants (read from /proc/<pid>/task/<tid>/children). */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    out.push(p);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const t of tasks) {
      try {
        const children = readFileSync(`/proc/${p}/task/${t}/children`, "utf8").trim();
        if (children) queue.push(...children.split(/\s+/).map(Number));
      } catch {
        // the task ended between readdir and read
      }
    }
  }
  return out;
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM), 0 when the process is gone. */
export function statusBytes(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return m?.[1] ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** utime + stime of one process in milliseconds (its own threads, not its children), 0 when gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Sum of {@link cpuMs} over a process tree, per pid (so exited children do not make the sum go down). */
export function treeCpuMs(pids: readonly number[]): Map<number, number> {
  return new Map(pids.map((p) => [p, cpuMs(p)]));
}

/** CPU milliseconds spent by `pids` between two {@link treeCpuMs} snapshots. */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/**
 * Samples the summed VmRSS of a process tree every `intervalMs` and keeps the
 * peak; {@link RssSampler.stop} also reads each process's VmHWM (its own
 * peak), whose sum is an upper bound of the tree's peak.
 */
export class RssSampler {
  #peak = 0;
  #pids: number[] = [];
  readonly #perProcess = new Map<number, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly root: number,
    intervalMs = 100,
  ) {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  #sample(): void {
    this.#pids = processTree(this.root);
    let sum = 0;
    for (const p of this.#pids) {
      const rss = statusBytes(p, "VmRSS");
      sum += rss;
      if (rss > (this.#perProcess.get(p) ?? 0)) this.#perProcess.set(p, rss);
    }
    if (sum > this.#peak) this.#peak = sum;
  }

  /**
   * Peak of the sampled sum, the sum of each process's VmHWM, in bytes, and
   * each process's sampled peak, named `root` / `node child` / the executable.
   */
  stop(): {
    peakRss: number;
    sumHwm: number;
    processes: number;
    perProcess: { name: string; peakRss: number }[];
  } {
    clearInterval(this.#timer);
    this.#sample();
    const sumHwm = this.#pids.reduce((s, p) => s + statusBytes(p, "VmHWM"), 0);
    const perProcess = [...this.#perProcess].map(([pid, peakRss]) => ({
      name: pid === this.root ? "root" : processName(pid),
      peakRss,
    }));
    return { peakRss: this.#peak, sumHwm, processes: this.#pids.length, perProcess };
  }
}

function processName(pid: number): string {
  try {
    const exe = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
    const base = exe.slice(exe.lastIndexOf("/") + 1);
    return base === "node" ? "node child" : base || "?";
  } catch {
    return "(exited)";
  }
}
