import { appendFileSync, existsSync, readFileSync, statSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { buildCsr, generateKeySync } from "../../src/pki/keys.js";
import { type IssuanceRecord, IssuanceLog } from "../../src/server/issuance-log.js";
import { startInProcessServer } from "../lib/inprocess-server.js";
import { TempDir } from "../lib/temp-dir.js";

const tmp = new TempDir("meshsign-issuances-");
afterAll(() => tmp.remove());

let n = 0;
function record(identity = "spiffe://cluster.local/ns/default/sa/demo"): IssuanceRecord {
  n++;
  return {
    identity,
    serial: n.toString(16).padStart(32, "0"),
    notAfter: 1_900_000_000_000 + n,
    issuedAt: 1_800_000_000_000 + n,
    keyAlgorithm: "ecdsa-p256",
    authenticator: "jwks",
    peer: "127.0.0.1:40000",
  };
}

describe("the issuance history", () => {
  it("keeps the newest records first, at most its capacity, in memory only without a file", () => {
    const log = new IssuanceLog({ capacity: 3 });
    const all = [record(), record(), record(), record()];
    for (const r of all) log.add(r);
    expect(log.recent(10).map((r) => r.serial)).toEqual([all[3], all[2], all[1]].map((r) => r?.serial));
  });

  it("survives a restart: a new log on the same file lists what the last one recorded", () => {
    const file = tmp.path("restart.jsonl");
    const first = new IssuanceLog({ file });
    const written = [record(), record(), record()];
    for (const r of written) first.add(r);
    first.flush();
    const second = new IssuanceLog({ file });
    expect(second.recent(10)).toEqual([...written].reverse());
  });

  it("writes its file 0600", () => {
    const file = tmp.path("mode.jsonl");
    const log = new IssuanceLog({ file });
    log.add(record());
    log.flush();
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("rotates at its size cap, so the two files never hold more than twice the cap, and reloads across both", () => {
    const file = tmp.path("rotate.jsonl");
    const log = new IssuanceLog({ file, maxFileBytes: 2000, capacity: 1000 });
    const written: IssuanceRecord[] = [];
    for (let i = 0; i < 200; i++) {
      const r = record();
      written.push(r);
      log.add(r);
      log.flush();
    }
    expect(existsSync(`${file}.1`)).toBe(true);
    expect(statSync(file).size).toBeLessThanOrEqual(2000);
    expect(statSync(`${file}.1`).size).toBeLessThanOrEqual(2000);
    const reloaded = new IssuanceLog({ file, capacity: 1000 }).recent(1000);
    // The newest records are all there, newest first; the oldest rotated away.
    expect(reloaded.length).toBeGreaterThan(5);
    expect(reloaded.length).toBeLessThan(200);
    expect(reloaded).toEqual([...written].reverse().slice(0, reloaded.length));
  });

  it("skips a torn last line left by a crash, and lines that are not records", () => {
    const file = tmp.path("torn.jsonl");
    const log = new IssuanceLog({ file });
    const kept = record();
    log.add(kept);
    log.flush();
    appendFileSync(file, '["not a record"]\n{"identity":"spiffe://cluster.local/ns/a/sa/b","ser');
    expect(new IssuanceLog({ file }).recent(10)).toEqual([kept]);
  });
});

describe("the audit log line", () => {
  it("is written once per issued certificate with identity, serial, notAfter, key type, authenticator and peer, and never the token", async () => {
    const server = await startInProcessServer();
    try {
      const token = await server.devIssuer.mintToken({ namespace: "default", serviceAccount: "demo" });
      const client = new IstioCaClient({ address: `127.0.0.1:${server.port}`, rootsPem: server.rootsPem, serverName: "localhost" });
      try {
        const csr = buildCsr(generateKeySync({ type: "ec", curve: "P-256" }), {
          uris: ["spiffe://cluster.local/ns/default/sa/demo"],
        });
        await client.createCertificate({ csr, token });
        await client.createCertificate({ csr, token });
      } finally {
        client.close();
      }
      const lines = server.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "certificate issued");
      expect(lines).toHaveLength(2);
      expect(lines.map((l) => l.serial)).toEqual(server.issued.map((e) => e.serial));
      expect(lines[0]).toMatchObject({
        level: 30,
        identity: "spiffe://cluster.local/ns/default/sa/demo",
        keyAlgorithm: "ecdsa-p256",
        authenticator: "jwks",
      });
      expect(lines[0]?.peer).toMatch(/127\.0\.0\.1:\d+$/);
      expect(new Date(String(lines[0]?.notAfter)).getTime()).toBe(server.issued[0]?.notAfter);
      const [, payload, signature] = token.split(".");
      for (const line of server.logLines) {
        expect(line).not.toContain(token);
        expect(line).not.toContain(payload);
        expect(line).not.toContain(signature);
        expect(line).not.toContain("CERTIFICATE REQUEST");
      }
    } finally {
      await server.close();
    }
  });
});

describe("the history file on disk", () => {
  it("holds no field beyond the record's", () => {
    const file = tmp.path("fields.jsonl");
    const log = new IssuanceLog({ file });
    log.add(record());
    log.flush();
    const line = JSON.parse(readFileSync(file, "utf8").trim()) as object;
    expect(Object.keys(line).sort()).toEqual(
      ["authenticator", "identity", "issuedAt", "keyAlgorithm", "notAfter", "peer", "serial"].sort(),
    );
  });
});
