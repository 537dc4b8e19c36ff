import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import tls from "node:tls";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../lib/temp-dir.js";

/*
 * The admin API under a body flood: requests without the admin token are
 * answered from their headers and their bodies are never read, and every
 * body is capped. The server runs in a child process so that its RSS is its
 * own (the test process's allocations would hide or fake growth).
 */

const TOKEN = "admin-token-for-the-limits-test-0123456789";
const MiB = 1 << 20;
let child: ChildProcess;
let port = 0;

beforeAll(async () => {
  const adminModule = path.join(REPO_ROOT, "src/server/admin.ts");
  const dataDirModule = path.join(REPO_ROOT, "src/server/data-dir.ts");
  const script = `
    const { startAdminServer } = await import(${JSON.stringify(adminModule)});
    const { createRootCa } = await import(${JSON.stringify(dataDirModule)});
    const ca = await createRootCa({ algorithm: "ecdsa-p256", durationMs: 3600000, trustDomain: "cluster.local" });
    const never = () => { throw new Error("not in this test"); };
    const admin = await startAdminServer({
      host: "127.0.0.1", port: 0, token: ${JSON.stringify(TOKEN)},
      serving: { certificateChainPem: ca.certificatePem, privateKeyPem: ca.keyPem },
      sources: { version: "test", mode: "standalone", trustDomain: "cluster.local", roots: () => ca.certificatePem,
        checks: () => [], issuances: { recent: () => [] } },
    });
    process.stdout.write(JSON.stringify({ port: admin.port }) + "\\n");
  `;
  child = spawn(process.execPath, ["--import", "reflect-metadata", "--import", "tsx", "--input-type=module", "-e", script], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once("exit", (code) => reject(new Error(`admin server exited with ${code}`)));
  });
});

afterAll(() => {
  child?.kill("SIGKILL");
});

/** The child's resident set, from /proc (Linux). */
function rssMb(): number {
  const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb / 1024;
}

interface Sent {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** Body bytes the client managed to hand to its socket before the server stopped it. */
  readonly bytesWritten: number;
}

/** POSTs up to `total` body bytes over HTTP/2, stopping once the server answers or resets the stream. */
function h2Post(options: { total: number; headers: Record<string, string>; declareLength?: boolean }): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    session.on("error", () => {});
    const stream = session.request({
      ":method": "POST",
      ":path": "/meshsign.admin.v1.AdminService/GetVersion",
      ...(options.declareLength ? { "content-length": String(options.total) } : {}),
      ...options.headers,
    });
    let written = 0;
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    let body = "";
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      // The server has answered and reset the stream (NO_ERROR); node's client keeps its
      // unsent writes queued until told otherwise.
      stream.destroy();
      session.destroy();
      if (status === 0) reject(new Error("no response"));
      else resolve({ status, headers, body, bytesWritten: written });
    };
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      headers = h;
    });
    stream.on("data", (d: Buffer) => (body += d.toString()));
    stream.on("end", finish);
    stream.on("close", finish);
    stream.on("error", () => {});
    const chunk = Buffer.alloc(MiB, 0x7b);
    const pump = () => {
      while (!done && !stream.destroyed && written < options.total && status === 0) {
        written += chunk.length;
        if (!stream.write(chunk)) {
          stream.once("drain", pump);
          return;
        }
      }
      if (written >= options.total && !stream.destroyed) stream.end();
    };
    pump();
  });
}

/**
 * POSTs over HTTP/1.1 with a declared length on a bare TLS socket, writing until the server
 * answers or closes. (node's HTTP client may report the write error of a closed connection
 * before the answer that came first; the bytes read off the socket are in order.)
 */
function h1Post(options: { total: number; authorization?: string }): Promise<Sent> {
  return new Promise((resolve) => {
    let written = 0;
    let received = "";
    let settled = false;
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] }, () => {
      socket.write(
        [
          "POST /meshsign.admin.v1.AdminService/GetVersion HTTP/1.1",
          "host: localhost",
          "content-type: application/json",
          `content-length: ${options.total}`,
          ...(options.authorization ? [`authorization: ${options.authorization}`] : []),
          "",
          "",
        ].join("\r\n"),
      );
      pump();
    });
    const settle = () => {
      if (settled) return;
      settled = true;
      const head = received.indexOf("\r\n\r\n");
      if (head < 0) {
        // Closed (or reset) before an answer could be read.
        resolve({ status: 0, headers: {}, body: "", bytesWritten: written });
        return;
      }
      const lines = received.slice(0, head).split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(":");
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(lines[0]?.split(" ")[1]), headers, body: received.slice(head + 4), bytesWritten: written });
      socket.destroy();
    };
    socket.on("data", (d: Buffer) => {
      received += d.toString("latin1");
      const head = received.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: (\d+)/i.exec(received)?.[1];
      if (head >= 0 && length !== undefined && received.length >= head + 4 + Number(length)) settle();
    });
    socket.on("error", () => {});
    socket.on("close", settle);
    const chunk = Buffer.alloc(MiB, 0x7b);
    const pump = () => {
      while (!settled && !socket.destroyed && written < options.total) {
        const part = chunk.subarray(0, Math.min(chunk.length, options.total - written));
        written += part.length;
        if (!socket.write(part)) {
          socket.once("drain", pump);
          return;
        }
      }
    };
  });
}

const connectJson = { "content-type": "application/json" };

describe("the admin API refuses before reading", () => {
  it("answers a 150 MB unauthenticated HTTP/2 body with 401 after reading almost none of it, and RSS stays flat", async () => {
    const before = rssMb();
    for (let i = 0; i < 3; i++) {
      const r = await h2Post({ total: 150 * MiB, headers: connectJson });
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body)).toMatchObject({ code: "unauthenticated" });
      // Flow control stops the sender within a few windows once the stream is reset.
      expect(r.bytesWritten).toBeLessThan(20 * MiB);
    }
    expect(rssMb() - before).toBeLessThan(16);
  });

  it("answers an unauthenticated gRPC call with UNAUTHENTICATED in a trailers-only response", async () => {
    const r = await h2Post({ total: 120 * MiB, headers: { "content-type": "application/grpc+proto" } });
    expect(r.status).toBe(200);
    expect(r.headers["grpc-status"]).toBe("16");
    expect(r.bytesWritten).toBeLessThan(20 * MiB);
  });

  it("answers a wrong token like a missing one", async () => {
    const r = await h2Post({ total: 120 * MiB, headers: { ...connectJson, authorization: "Bearer not-the-token" } });
    expect(r.status).toBe(401);
  });

  it("closes an HTTP/1.1 connection that declares a 150 MB unauthenticated body, and RSS stays flat", async () => {
    const before = rssMb();
    const r = await h1Post({ total: 150 * MiB });
    // The answer is 401 when the client reads it before the close resets the connection.
    if (r.status !== 0) expect(r.status).toBe(401);
    expect(r.bytesWritten).toBeLessThan(150 * MiB);
    expect(rssMb() - before).toBeLessThan(16);
  });

  it("answers a small unauthenticated HTTP/1.1 request 401", async () => {
    const r = await h1Post({ total: 2 });
    expect(r.status).toBe(401);
    expect(r.headers.connection).toBe("close");
  });
});

describe("the admin API caps bodies even with the token", () => {
  const authorization = `Bearer ${TOKEN}`;

  it("refuses a declared 100 MB body from its content-length", async () => {
    const r = await h2Post({ total: 100 * MiB, declareLength: true, headers: { ...connectJson, authorization } });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ code: "resource_exhausted" });
    expect(r.bytesWritten).toBeLessThan(20 * MiB);
  });

  it("stops an undeclared body once it passes the cap", async () => {
    const before = rssMb();
    const r = await h2Post({ total: 100 * MiB, headers: { ...connectJson, authorization } });
    expect(JSON.parse(r.body)).toMatchObject({ code: "resource_exhausted" });
    expect(r.bytesWritten).toBeLessThan(40 * MiB);
    expect(rssMb() - before).toBeLessThan(32);
  });

  it("still answers a small authenticated call", async () => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const s = session.request({ ":method": "POST", ":path": "/meshsign.admin.v1.AdminService/GetVersion", ...connectJson, authorization });
        let out = "";
        s.on("data", (d: Buffer) => (out += d.toString()));
        s.on("end", () => resolve(out));
        s.on("error", reject);
        s.end("{}");
      });
      expect(JSON.parse(body)).toMatchObject({ version: "test", mode: "standalone" });
    } finally {
      session.close();
    }
  });
});
