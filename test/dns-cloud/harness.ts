/**
 * moto in server mode (Route53 and STS on one port, installed by
 * test/dns-cloud/setup.sh) on a free loopback port, behind a small recording
 * proxy: the tests read which AWS actions were called, with which access key
 * they were signed, and what STS was sent, from the requests themselves. The
 * proxy can also answer chosen requests with a Route53 error (throttling,
 * 5xx, AccessDenied) in AWS's wire shape, which moto does not produce.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import { homedir } from "node:os";
import path from "node:path";
import { freePort } from "../lib/ports.js";

export function motoServerBinary(): string {
  const fromEnv = process.env.MESHSIGN_MOTO_SERVER;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const cache = process.env.MESHSIGN_CACHE ?? path.join(homedir(), ".cache", "meshsign");
  const envFile = path.join(cache, "bin", "harness.env");
  if (existsSync(envFile)) {
    const line = readFileSync(envFile, "utf8")
      .split("\n")
      .find((l) => l.startsWith("MESHSIGN_MOTO_SERVER="));
    if (line !== undefined) return line.slice("MESHSIGN_MOTO_SERVER=".length).trim();
  }
  throw new Error(
    "no moto_server: run `bash test/dns-cloud/setup.sh` (npm run test:dns-cloud does) or set MESHSIGN_MOTO_SERVER",
  );
}

/** One request as the proxy saw it. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  /** The SigV4 access key id the request was signed with, if any. */
  readonly accessKeyId: string | undefined;
  /** Route53's REST action (`ChangeResourceRecordSets`...) or STS's query `Action`. */
  readonly action: string;
  readonly body: string;
}

function route53Action(method: string, url: string): string {
  const p = url.split("?")[0] ?? "";
  if (/\/hostedzonesbyname$/.test(p)) return "ListHostedZonesByName";
  if (/\/hostedzone\/[^/]+\/rrset\/?$/.test(p))
    return method === "POST" ? "ChangeResourceRecordSets" : "ListResourceRecordSets";
  if (/\/change\/[^/]+$/.test(p)) return "GetChange";
  if (/\/hostedzone\/?$/.test(p)) return method === "POST" ? "CreateHostedZone" : "ListHostedZones";
  if (/\/hostedzone\/[^/]+$/.test(p)) return method === "DELETE" ? "DeleteHostedZone" : "GetHostedZone";
  return `${method} ${p}`;
}

/** An answer the proxy gives instead of moto, for error shapes moto cannot produce. */
export interface Fault {
  readonly action: string;
  /** How many matching requests get it. */
  times: number;
  readonly status: number;
  /** Route53's error `Code` and `Message`, sent in its restXml error shape. */
  readonly code: string;
  readonly message: string;
}

function route53ErrorXml(code: string, message: string): string {
  return `<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>00000000-test-fault-0000-000000000000</RequestId></ErrorResponse>`;
}

export class MotoServer {
  #proc: ChildProcess | undefined;
  readonly #faults: Fault[] = [];
  #proxy: http.Server | undefined;
  #log = "";
  motoPort = 0;
  proxyPort = 0;
  readonly seen: SeenRequest[] = [];
  /**
   * Called with each request moto answered (faults excluded), once its answer is sent: a test keeps
   * another server in step with what moto now holds.
   */
  onAnswered: ((request: SeenRequest, status: number) => void) | undefined;

  /** The endpoint the code under test uses (the recording proxy). */
  get endpoint(): string {
    return `http://127.0.0.1:${this.proxyPort}`;
  }

  /** moto itself, for setting up fixtures without being recorded. */
  get directEndpoint(): string {
    return `http://127.0.0.1:${this.motoPort}`;
  }

  async start(): Promise<void> {
    this.motoPort = await freePort();
    const proc = spawn(motoServerBinary(), ["-H", "127.0.0.1", "-p", String(this.motoPort)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#proc = proc;
    const keep = (d: Buffer) => {
      this.#log = (this.#log + d.toString()).slice(-8000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    // Generous: moto imports a lot of Python on a loaded 2-core machine.
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`moto_server exited with ${proc.exitCode}: ${this.#log}`);
      const ok = await fetch(`${this.directEndpoint}/moto-api/`).then(
        (r) => r.status < 500,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`moto_server did not answer: ${this.#log}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await this.#startProxy();
  }

  async #startProxy(): Promise<void> {
    const proxy = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        const text = body.toString();
        const auth = req.headers.authorization ?? "";
        const stsAction = new URLSearchParams(text).get("Action");
        const seen: SeenRequest = {
          method: req.method ?? "",
          url: req.url ?? "",
          accessKeyId: /Credential=([^/]+)\//.exec(auth)?.[1],
          action: stsAction ?? route53Action(req.method ?? "", req.url ?? ""),
          body: text,
        };
        this.seen.push(seen);
        const fault = this.#faults.find((f) => f.times > 0 && f.action === seen.action);
        if (fault !== undefined) {
          fault.times--;
          res.writeHead(fault.status, {
            "content-type": "text/xml",
            "x-amzn-requestid": "00000000-test-fault",
          });
          res.end(route53ErrorXml(fault.code, fault.message));
          return;
        }
        const up = http.request(
          { host: "127.0.0.1", port: this.motoPort, method: req.method, path: req.url, headers: req.headers },
          (upRes) => {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.pipe(res);
            upRes.on("end", () => this.onAnswered?.(seen, upRes.statusCode ?? 502));
          },
        );
        up.on("error", (e) => {
          res.writeHead(502);
          res.end(String(e));
        });
        up.end(body);
      });
    });
    this.proxyPort = await freePort();
    await new Promise<void>((resolve) => proxy.listen(this.proxyPort, "127.0.0.1", resolve));
    this.#proxy = proxy;
  }

  /**
   * Answers the next `times` requests for `action` with a Route53 error in AWS's shape instead of
   * passing them to moto (which has no throttling and no IAM refusals for Route53).
   */
  fail(fault: Fault): void {
    this.#faults.push(fault);
  }

  clearFaults(): void {
    this.#faults.length = 0;
  }

  /** Requests seen for one action. */
  calls(action: string): SeenRequest[] {
    return this.seen.filter((r) => r.action === action);
  }

  async stop(): Promise<void> {
    const proxy = this.#proxy;
    this.#proxy = undefined;
    if (proxy !== undefined) {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
    const p = this.#proc;
    this.#proc = undefined;
    if (p !== undefined && p.exitCode === null) {
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (p.exitCode === null) p.kill("SIGKILL");
    }
  }
}
