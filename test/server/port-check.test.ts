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
