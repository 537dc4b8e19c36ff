import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_EPHEMERAL_START, ephemeralRangeStart, freePort, LOWEST_PORT, PortPicker, portBinds } from "./ports.js";

const dir = mkdtempSync(path.join(tmpdir(), "meshsign-ports-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("ephemeralRangeStart", () => {
  const cases: Array<[string, string | undefined, number]> = [
    ["reads the first number of ip_local_port_range", "40000\t60999\n", 40000],
    ["falls back to 32768 when the file is missing", undefined, DEFAULT_EPHEMERAL_START],
    ["falls back to 32768 when the file holds no number", "garbage\n", DEFAULT_EPHEMERAL_START],
    ["falls back to 32768 when the range starts below the lowest port handed out", "1024 65535\n", DEFAULT_EPHEMERAL_START],
  ];
  for (const [name, content, want] of cases) {
    it(name, () => {
      const file = path.join(dir, name.replace(/\W+/g, "-"));
      if (content !== undefined) writeFileSync(file, content);
      expect(ephemeralRangeStart(file)).toBe(want);
    });
  }
});

describe("PortPicker", () => {
  it("starts at its offset, hands each port out once and wraps around the range", async () => {
    const picker = new PortPicker({ low: 100, high: 104, offset: 102, probe: async () => true });
    const got = [await picker.take(), await picker.take(), await picker.take(), await picker.take()];
    expect(got).toEqual([102, 103, 100, 101]);
    await expect(picker.take()).rejects.toThrow("no free port left in [100, 104) on 127.0.0.1");
  });

  it("skips ports that do not bind", async () => {
    const busy = new Set([201, 202]);
    const picker = new PortPicker({ low: 200, high: 210, offset: 200, probe: async (p) => !busy.has(p) });
    expect([await picker.take(), await picker.take()]).toEqual([200, 203]);
  });
});

describe("portBinds", () => {
  it("says no for a port a server listens on and yes once it is closed", async () => {
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    const address = srv.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    expect(await portBinds(address.port, "127.0.0.1")).toBe(false);
    await new Promise((resolve) => srv.close(resolve));
    expect(await portBinds(address.port, "127.0.0.1")).toBe(true);
  });
});

describe("freePort", () => {
  it("hands out distinct ports below the ephemeral range that bind on 127.0.0.1", async () => {
    const ports = [];
    for (let i = 0; i < 5; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(5);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(LOWEST_PORT);
      expect(port).toBeLessThan(ephemeralRangeStart());
      expect(await portBinds(port, "127.0.0.1")).toBe(true);
    }
  });
});
