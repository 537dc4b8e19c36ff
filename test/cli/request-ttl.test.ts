import { existsSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { runMeshsign } from "../lib/meshsign-process.js";
import { TempDir } from "../lib/temp-dir.js";

/**
 * `meshsign request --ttl` becomes CreateCertificate's validity_duration, a whole number of
 * seconds where 0 means "the server's default" (24h for istiod and meshsign). A lifetime under a
 * second used to be sent as 0 and came back as a 24h certificate without a word.
 */
const tmp = new TempDir("meshsign-cli-request-ttl-");
afterAll(() => tmp.remove());

describe("meshsign request --ttl", () => {
  it.each(["500ms", "999ms", "0s", "-1s"])(
    "refuses %s before calling anyone, naming the flag and the 1s floor",
    async (ttl) => {
      const cwd = tmp.path(`case-${ttl}`);
      // Nothing listens at port 1: a refusal that came from the call would say so instead.
      const r = await runMeshsign(
        [
          "request",
          "-n",
          "default",
          "-s",
          "demo",
          "--address",
          "127.0.0.1:1",
          "--ttl",
          ttl,
          "--out",
          `${cwd}/certs`,
        ],
        {
          cwd: tmp.path(""),
          env: { MESHSIGN_DATA_DIR: `${cwd}/state` },
        },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `meshsign: --ttl: "${ttl}" must be at least 1s (CreateCertificate asks for whole seconds; 0 would get the server's default lifetime)\n`,
      );
      expect(existsSync(`${cwd}/certs`)).toBe(false);
    },
  );

  it("says in its help that the lifetime is whole seconds, a fraction dropped", async () => {
    const r = await runMeshsign(["request", "--help"], { cwd: tmp.path("") });
    expect(r.stdout.replace(/\s+/g, " ")).toContain(
      "--ttl <duration> requested lifetime, at least 1s; sent in whole seconds (a fraction is dropped, as istio-agent does)",
    );
  });
});
