import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SECRETS } from "../../src/api/types.js";
import { openEmbeddedStore } from "../../src/store/embedded/index.js";
import { secret } from "../store/contract.js";

const BIN = path.resolve(import.meta.dirname, "../../bin/meshsign.js");
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function meshsign(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("meshsign store", () => {
  it.each(["check", "recover"])("%s refuses a data dir without a store instead of reporting it sound, and creates nothing", async (command) => {
    const parent = await mkdtemp(path.join(tmpdir(), "meshsign-cli-store-"));
    dirs.push(parent);
    const typo = path.join(parent, ".meshsgin");
    const r = meshsign("store", command, "--data-dir", typo);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`meshsign: no store at ${typo}/store: is ${typo} meshsign's data dir (--data-dir)?\n`);
    expect(r.status).toBe(1);
    expect(await stat(typo).catch(() => "absent")).toBe("absent");
  });

  it("check exits 0 on a sound store and 1 on a damaged one naming the file; recover quarantines it and the store opens again", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "meshsign-cli-store-"));
    dirs.push(dataDir);
    const store = await openEmbeddedStore({ dataDir });
    await store.create(SECRETS, secret("a"));
    await store.create(SECRETS, secret("b"));
    await store.close();

    const sound = meshsign("store", "check", "--data-dir", dataDir);
    expect(sound.stdout).toContain(`store ${dataDir}/store: ok`);
    expect(sound.status).toBe(0);

    const file = path.join(dataDir, "store/core/secrets/ns/a.json");
    await truncate(file, 7);
    const damaged = meshsign("store", "check", "--data-dir", dataDir);
    expect(damaged.stdout).toContain(`damaged object file ${file}: not JSON`);
    expect(damaged.stdout).toContain("NO surviving copy");
    expect(damaged.status).toBe(1);
    const json = JSON.parse(meshsign("store", "check", "--data-dir", dataDir, "-o", "json").stdout);
    expect(json.lostObjects).toEqual(["core/secrets ns/a"]);

    const refused = meshsign("store", "recover", "--data-dir", dataDir);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("--accept-loss");
    expect((await stat(file)).size).toBe(7);

    const recovered = meshsign("store", "recover", "--data-dir", dataDir, "--accept-loss");
    expect(recovered.status).toBe(0);
    expect(recovered.stdout).toMatch(/1 file\(s\) moved to .*\/store\/quarantine\//);
    expect(meshsign("store", "check", "--data-dir", dataDir).status).toBe(0);
    const reopened = await openEmbeddedStore({ dataDir });
    expect((await reopened.list(SECRETS)).map((s) => s.metadata.name)).toEqual(["b"]);
    await reopened.close();
    expect(await readFile(file, "utf8").catch(() => "gone")).toBe("gone");
  });
});
