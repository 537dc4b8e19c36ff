import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/server/config.js";
import { checkListenAddresses } from "../../src/server/port-check.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function occupy(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    servers.push(s);
    s.once("error", reject);
    s.listen(0, host, () => {
      const a = s.address();
      resolve(typeof a === "object" && a !== null ? a.port : 0);
    });
  });
}

/** Every port 0 (any free one) unless a test names it. */
const config = (flags: Record<string, unknown>) =>
  loadConfig({ flags: { servingAddress: "127.0.0.1:0", readinessProbePort: "0", metricsPort: "0", adminAddress: "127.0.0.1:0", ...flags } });

describe("checking the listen addresses before start-up", () => {
  it("passes when every port is free", async () => {
    await expect(checkListenAddresses(config({}))).resolves.toBeUndefined();
  });

  it("names the flag and variable of a busy port", async () => {
    const port = await occupy("0.0.0.0");
    await expect(checkListenAddresses(config({ readinessProbePort: String(port) }))).rejects.toThrow(
      `0.0.0.0:${port} is already in use (another meshsign, or another program): stop it or choose another port with --readiness-probe-port (MESHSIGN_READINESS_PROBE_PORT)`,
    );
  });

  it("lists every busy port at once", async () => {
    const serving = await occupy("127.0.0.1");
    const admin = await occupy("127.0.0.1");
    const err = await checkListenAddresses(config({ servingAddress: `127.0.0.1:${serving}`, adminAddress: `127.0.0.1:${admin}` })).catch((e: Error) => e);
    expect(String(err)).toContain(`127.0.0.1:${serving} is already in use`);
    expect(String(err)).toContain("--serving-address (MESHSIGN_SERVING_ADDRESS)");
    expect(String(err)).toContain(`127.0.0.1:${admin} is already in use`);
    expect(String(err)).toContain("--admin-address (MESHSIGN_ADMIN_ADDRESS)");
  });

  it("says when the address is not one of this machine's", async () => {
    await expect(checkListenAddresses(config({ adminAddress: "192.0.2.1:9443" }))).rejects.toThrow(/192\.0\.2\.1:9443: this machine has no such address: choose another with --admin-address/);
  });
});

describe("two of meshsign's own listeners on one port", () => {
  it.each([
    ["the readiness probe and metrics", { readinessProbePort: "16061", metricsPort: "16061" }, "--readiness-probe-port (MESHSIGN_READINESS_PROBE_PORT) and --metrics-port (MESHSIGN_METRICS_PORT) both want port 16061"],
    ["the serving address and the metrics port", { servingAddress: "0.0.0.0:16062", metricsPort: "16062" }, "--serving-address (MESHSIGN_SERVING_ADDRESS) and --metrics-port (MESHSIGN_METRICS_PORT) both want port 16062"],
    ["the admin API on loopback and the readiness probe on every address", { adminAddress: "127.0.0.1:16063", readinessProbePort: "16063" }, "--readiness-probe-port (MESHSIGN_READINESS_PROBE_PORT) and --admin-address (MESHSIGN_ADMIN_ADDRESS) both want port 16063"],
    ["the ACME HTTP-01 solver, opened later, and the metrics port", { acmeHttp01SolverAddress: "0.0.0.0:16064", metricsPort: "16064" }, "--metrics-port (MESHSIGN_METRICS_PORT) and --acme-http01-solver-address (MESHSIGN_ACME_HTTP01_SOLVER_ADDRESS) both want port 16064"],
  ])("refuses %s before anything starts, naming both flags", async (_, flags, message) => {
    await expect(checkListenAddresses(config(flags))).rejects.toThrow(message);
  });

  it("allows one port on two different specific addresses", async () => {
    await expect(checkListenAddresses(config({ servingAddress: "127.0.0.1:16065", adminAddress: "127.0.0.2:16065" }))).resolves.toBeUndefined();
  });
});
