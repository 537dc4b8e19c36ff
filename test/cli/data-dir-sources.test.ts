import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { openEmbeddedStore } from "../../src/store/embedded/index.js";
import { startInProcessServer } from "../lib/inprocess-server.js";
import { runMeshsign } from "../lib/meshsign-process.js";
import { makeCa } from "../lib/openssl-ca.js";
import { TempDir } from "../lib/temp-dir.js";

/**
 * The client commands find the running meshsign as serve was told: `meshsign token` and `meshsign
 * bundle` without --data-dir use MESHSIGN_DATA_DIR or the --config file's dataDir; the admin
 * commands without --data-dir / --admin-address use MESHSIGN_DATA_DIR / MESHSIGN_ADMIN_ADDRESS.
 */
const tmp = new TempDir("meshsign-cli-data-dir-");
afterAll(() => tmp.remove());
let n = 0;

/** A working directory with no .meshsign, and the data dir a server elsewhere uses. */
function layout(): { cwd: string; dataDir: string; config: string } {
  const root = tmp.path(`case-${n++}`);
  const cwd = `${root}/cwd`;
  const dataDir = `${root}/state`;
  mkdirSync(cwd, { recursive: true });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const config = `${root}/meshsign.yaml`;
  writeFileSync(config, `dataDir: ${dataDir}\n`);
  return { cwd, dataDir, config };
}

const sources = {
  MESHSIGN_DATA_DIR: (l: ReturnType<typeof layout>) => ({ args: [] as string[], env: { MESHSIGN_DATA_DIR: l.dataDir } }),
  "the --config file's dataDir": (l: ReturnType<typeof layout>) => ({ args: ["--config", l.config], env: {} }),
};

describe("client commands find the data dir where serve does", () => {
  it.each(Object.entries(sources))("meshsign token mints with the key of the data dir named by %s", async (_, source) => {
    const l = layout();
    const { args, env } = source(l);
    const r = await runMeshsign(["token", "-n", "default", "-s", "demo", ...args], { cwd: l.cwd, env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(existsSync(`${l.cwd}/.meshsign`)).toBe(false);
    const jwks = createLocalJWKSet(JSON.parse(readFileSync(`${l.dataDir}/dev-jwks.json`, "utf8")));
    const { payload } = await jwtVerify(r.stdout.trim(), jwks, { audience: "istio-ca" });
    expect(payload.sub).toBe("system:serviceaccount:default:demo");
  });

  it.each(Object.entries(sources))("meshsign bundle reads the roots of the data dir named by %s", async (_, source) => {
    const l = layout();
    const ca = makeCa(l.dataDir, "mesh");
    writeFileSync(`${l.dataDir}/root-cert.pem`, readFileSync(ca.certFile));
    const { args, env } = source(l);
    const r = await runMeshsign(["bundle", "--format", "pem", ...args], { cwd: l.cwd, env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/\s/g, "")).toBe(readFileSync(ca.certFile, "utf8").replace(/\s/g, ""));
  });

  it("lets --data-dir win over both", async () => {
    const l = layout();
    const other = tmp.path(`case-${n++}-flag`);
    const r = await runMeshsign(["token", "-n", "default", "-s", "demo", "--config", l.config, "--data-dir", other], { cwd: l.cwd, env: { MESHSIGN_DATA_DIR: l.dataDir } });
    expect(r.code).toBe(0);
    expect(existsSync(`${other}/dev-token-key.pem`)).toBe(true);
    expect(existsSync(`${l.dataDir}/dev-token-key.pem`)).toBe(false);
  });
});

/** A port nothing listens on (bound and released). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0));
    });
  });
}

describe("admin commands find the admin API where serve put it", () => {
  it.each([["status"], ["issuances"], ["renew", "apps/web"], ["inspect", "secret", "apps/web-tls"]])(
    "meshsign %s reads MESHSIGN_DATA_DIR and MESHSIGN_ADMIN_ADDRESS",
    async (...args) => {
      const l = layout();
      const ca = makeCa(l.dataDir, "mesh");
      writeFileSync(`${l.dataDir}/root-cert.pem`, readFileSync(ca.certFile));
      writeFileSync(`${l.dataDir}/admin-token`, `${"x".repeat(43)}\n`, { mode: 0o600 });
      const address = `127.0.0.1:${await freePort()}`;
      const r = await runMeshsign(args, { cwd: l.cwd, env: { MESHSIGN_DATA_DIR: l.dataDir, MESHSIGN_ADMIN_ADDRESS: address } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`meshsign: nothing answers at ${address} (connection refused)`);
    },
  );

  it("lets --admin-address win over MESHSIGN_ADMIN_ADDRESS, and refuses one that is not host:port naming the flag", async () => {
    const l = layout();
    const r = await runMeshsign(["status", "--admin-address", "localhost"], { cwd: l.cwd, env: { MESHSIGN_DATA_DIR: l.dataDir, MESHSIGN_ADMIN_ADDRESS: "127.0.0.1:1" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--admin-address: must be host:port");
  });
});

describe("request and store find the data dir (and trust domain) where serve does", () => {
  it("meshsign store check reads MESHSIGN_DATA_DIR", async () => {
    const l = layout();
    await (await openEmbeddedStore({ dataDir: l.dataDir })).close();
    const r = await runMeshsign(["store", "check"], { cwd: l.cwd, env: { MESHSIGN_DATA_DIR: l.dataDir } });
    expect(r.stdout).toContain(`store ${l.dataDir}/store: ok`);
    expect(r.code).toBe(0);
  });

  it("meshsign request reads MESHSIGN_DATA_DIR and MESHSIGN_TRUST_DOMAIN, as the server it calls was started", async () => {
    const server = await startInProcessServer({ trustDomain: "mesh.example.org" });
    try {
      const l = layout();
      const r = await runMeshsign(["request", "-n", "default", "-s", "demo", "--address", server.address, "--out", `${l.cwd}/certs`], {
        cwd: l.cwd,
        env: { MESHSIGN_DATA_DIR: server.dataDir, MESHSIGN_TRUST_DOMAIN: "mesh.example.org" },
      });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("SPIFFE ID:  spiffe://mesh.example.org/ns/default/sa/demo");
      expect(existsSync(`${l.cwd}/.meshsign`)).toBe(false);
    } finally {
      await server.close();
    }
  });
});
