import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  cgroupCpuQuota,
  defaultServingProcesses,
  parseCfsQuota,
  parseCpuMax,
  parseProcCgroup,
  usableCoreCount,
} from "../../../src/server/lib/cpu-quota.js";
import { TempDir } from "../../lib/temp-dir.js";

const tmp = new TempDir("meshsign-cgroup-");
afterAll(() => tmp.remove());

/** A stand-in cgroup root with the given files. */
function cgroupRoot(name: string, files: Record<string, string>): string {
  const root = tmp.path(name);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }
  mkdirSync(root, { recursive: true });
  return root;
}

describe("parseCpuMax (cgroup v2)", () => {
  it.each<[string, number | undefined]>([
    ["max 100000\n", undefined],
    ["200000 100000\n", 2],
    ["150000 100000", 1.5],
    ["50000 100000", 0.5],
    ["", undefined],
    ["garbage 100000", undefined],
    ["100000 0", undefined],
    ["-1 100000", undefined],
  ])("%j -> %s", (text, want) => {
    expect(parseCpuMax(text)).toBe(want);
  });
});

describe("parseCfsQuota (cgroup v1)", () => {
  it.each<[string, string, number | undefined]>([
    ["-1\n", "100000\n", undefined],
    ["400000\n", "100000\n", 4],
    ["25000", "100000", 0.25],
    ["x", "100000", undefined],
  ])("%j / %j -> %s", (quota, period, want) => {
    expect(parseCfsQuota(quota, period)).toBe(want);
  });
});

describe("parseProcCgroup", () => {
  it("finds the v2 path and the v1 cpu controller's path", () => {
    const hybrid =
      "12:memory:/kubepods/pod1/c1\n4:cpu,cpuacct:/kubepods/pod1/c1\n1:name=systemd:/x\n0::/kubepods/pod1/c1\n";
    expect(parseProcCgroup(hybrid)).toEqual({ v2: "/kubepods/pod1/c1", cpu: "/kubepods/pod1/c1" });
    expect(parseProcCgroup("0::/\n")).toEqual({ v2: "/" });
    expect(parseProcCgroup("2:cpuacct:/a\n1:cpu:/b\n")).toEqual({ cpu: "/b" });
    expect(parseProcCgroup("")).toEqual({});
  });
});

describe("cgroupCpuQuota", () => {
  const NAMESPACED = "0::/\n";

  it("reads cgroup v2's cpu.max", () => {
    expect(cgroupCpuQuota(cgroupRoot("v2", { "cpu.max": "300000 100000\n" }), NAMESPACED)).toBe(3);
    expect(
      cgroupCpuQuota(cgroupRoot("v2-unlimited", { "cpu.max": "max 100000\n" }), NAMESPACED),
    ).toBeUndefined();
  });

  it("reads the process's own cgroup before the root of the hierarchy", () => {
    const root = cgroupRoot("v2-nested", { "cpu.max": "max 100000\n", "pods/p1/cpu.max": "100000 100000\n" });
    expect(cgroupCpuQuota(root, "0::/pods/p1\n")).toBe(1);
    // A path that is not mounted here (the host's view of a container's cgroup): the root's file.
    expect(cgroupCpuQuota(root, "0::/elsewhere\n")).toBeUndefined();
  });

  it("reads cgroup v1's cpu controller under either of its usual names, own cgroup first", () => {
    const files = (dir: string, quota: string) => ({
      [`${dir}/cpu.cfs_quota_us`]: quota,
      [`${dir}/cpu.cfs_period_us`]: "100000\n",
    });
    expect(cgroupCpuQuota(cgroupRoot("v1", files("cpu", "200000\n")), "1:cpu:/\n")).toBe(2);
    expect(
      cgroupCpuQuota(cgroupRoot("v1-joined", files("cpu,cpuacct", "200000\n")), "1:cpu,cpuacct:/\n"),
    ).toBe(2);
    const nested = cgroupRoot("v1-nested", { ...files("cpu", "-1\n"), ...files("cpu/job", "50000\n") });
    expect(cgroupCpuQuota(nested, "1:cpu:/job\n")).toBe(0.5);
  });

  it("is undefined when there is no cgroup file to read", () => {
    expect(cgroupCpuQuota(cgroupRoot("none", {}), NAMESPACED)).toBeUndefined();
  });
});

describe("usableCoreCount", () => {
  it.each<[string, number, number | undefined, number]>([
    ["every CPU without a quota", 8, undefined, 8],
    ["the quota on a larger node", 64, 2, 2],
    ["a fractional quota rounded down", 64, 2.5, 2],
    ["at least one under a quota below a CPU", 64, 0.5, 1],
    ["never more than the CPUs the process may use", 2, 8, 2],
    ["never more than the configuration allows", 128, undefined, 64],
  ])("%s", (_name, cpus, quota, want) => {
    expect(usableCoreCount(cpus, quota, 64)).toBe(want);
  });
});

describe("defaultServingProcesses", () => {
  it.each<[string, number, number]>([
    ["one core: the primary alone", 1, 1],
    ["two cores: the primary alone, signatures on the thread pool", 2, 1],
    ["three cores: one worker per core", 3, 3],
    ["never more than the configuration allows", 128, 64],
  ])("%s", (_name, cores, want) => {
    expect(defaultServingProcesses(cores, 64)).toBe(want);
  });
});
