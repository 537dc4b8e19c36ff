/**
 * A minimal JSON-over-HTTP(S) client for Vault's API: one keep-alive agent
 * per issuer (TLS trust, SNI override and client certificate fixed at build),
 * a deadline per call, and transport failures turned into a typed outcome.
 * It never logs, and never puts the token it sends into an error.
 */
import http from "node:http";
import https from "node:https";

export interface VaultTransportOptions {
  /** Base URL without trailing slash. */
  readonly server: string;
  /** PEM trust anchors; absent means the system trust store. */
  readonly ca?: string;
  readonly serverName?: string;
  /** PEM client certificate and key for mTLS. */
  readonly cert?: string;
  readonly key?: string;
  /** Per-call deadline. */
  readonly timeoutMs: number;
}

export interface VaultCall {
  readonly method: "GET" | "POST";
  /** Below /v1/, e.g. `sys/health`, `pki_int/sign/mesh`. */
  readonly path: string;
  readonly body?: unknown;
  readonly token?: string;
  readonly namespace?: string;
  readonly signal?: AbortSignal;
}

export type VaultResponse =
  | { readonly kind: "response"; readonly status: number; readonly json: unknown }
  /** No HTTP answer: connection refused, reset, TLS failure, timeout. `reason` is safe to show. */
  | { readonly kind: "transport"; readonly reason: string };

/** Largest Vault response body accepted (a certificate chain is a few KiB). */
const MAX_BODY_BYTES = 1 << 20;

/** Idle keep-alive sockets are closed after this long (an issuer replaced on a spec change leaves none behind for long). */
const IDLE_SOCKET_MS = 30_000;

export class VaultTransport {
  readonly #o: VaultTransportOptions;
  readonly #url: URL;
  readonly #agent: http.Agent;

  constructor(options: VaultTransportOptions) {
    this.#o = options;
    this.#url = new URL(options.server);
    this.#agent =
      this.#url.protocol === "https:"
        ? new https.Agent({
            keepAlive: true,
            timeout: IDLE_SOCKET_MS,
            ...(options.ca !== undefined ? { ca: options.ca } : {}),
            ...(options.serverName !== undefined ? { servername: options.serverName } : {}),
            ...(options.cert !== undefined ? { cert: options.cert } : {}),
            ...(options.key !== undefined ? { key: options.key } : {}),
          })
        : new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS });
  }

  /** What it was built with (TLS trust and client key included: for another process of meshsign, never for a log). */
  get settings(): VaultTransportOptions {
    return this.#o;
  }

  /** A transport to the same server with another client certificate (cert auth login). */
  withClientCertificate(cert: string, key: string): VaultTransport {
    return new VaultTransport({ ...this.#o, cert, key });
  }

  close(): void {
    this.#agent.destroy();
  }

  call(c: VaultCall): Promise<VaultResponse> {
    const base = this.#url.pathname.replace(/\/+$/, "");
    const headers: Record<string, string> = { accept: "application/json" };
    let payload: Buffer | undefined;
    if (c.body !== undefined) {
      payload = Buffer.from(JSON.stringify(c.body));
      headers["content-type"] = "application/json";
      headers["content-length"] = String(payload.length);
    }
    if (c.token !== undefined) headers["x-vault-token"] = c.token;
    if (c.namespace !== undefined) headers["x-vault-namespace"] = c.namespace;
    const mod = this.#url.protocol === "https:" ? https : http;
    return new Promise<VaultResponse>((resolve) => {
      let settled = false;
      const done = (r: VaultResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        c.signal?.removeEventListener("abort", onAbort);
        resolve(r);
      };
      const req = mod.request(
        {
          protocol: this.#url.protocol,
          hostname: this.#url.hostname.replace(/^\[|\]$/g, ""),
          port: this.#url.port === "" ? undefined : Number(this.#url.port),
          path: `${base}/v1/${c.path}`,
          method: c.method,
          headers,
          agent: this.#agent,
          ...(this.#o.serverName !== undefined ? { servername: this.#o.serverName } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (d: Buffer) => {
            size += d.length;
            if (size > MAX_BODY_BYTES) {
              req.destroy();
              done({ kind: "transport", reason: "Vault's response is larger than 1 MiB" });
              return;
            }
            chunks.push(d);
          });
          res.on("error", () => done({ kind: "transport", reason: "connection to Vault broke while reading the response" }));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let json: unknown;
            try {
              json = text === "" ? undefined : JSON.parse(text);
            } catch {
              json = undefined;
            }
            done({ kind: "response", status: res.statusCode ?? 0, json });
          });
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        done({ kind: "transport", reason: `Vault did not answer within ${this.#o.timeoutMs} ms` });
      }, this.#o.timeoutMs);
      const onAbort = (): void => {
        req.destroy();
        done({ kind: "transport", reason: "the call to Vault was cancelled" });
      };
      c.signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (err: NodeJS.ErrnoException) => done({ kind: "transport", reason: transportReason(err) }));
      req.end(payload);
    });
  }
}

/** A safe, stable description of a socket/TLS error (no addresses beyond the configured server). */
function transportReason(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ECONNREFUSED":
      return "connection to Vault refused";
    case "ECONNRESET":
      return "connection to Vault reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "Vault's host name does not resolve";
    case "ETIMEDOUT":
      return "connection to Vault timed out";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "Vault is unreachable";
    default:
      if (err.code?.startsWith("ERR_TLS") || err.code?.includes("CERT") || err.code === "DEPTH_ZERO_SELF_SIGNED_CERT") {
        return `TLS handshake with Vault failed (${err.code}): check spec.vault.caBundle / serverName`;
      }
      return `connection to Vault failed (${err.code ?? "unknown error"})`;
  }
}

/** Vault's `{"errors": [...]}` joined, trimmed to a sane length, with `secret` (a token) redacted. */
export function vaultErrorText(json: unknown, secret?: string): string {
  const errors = typeof json === "object" && json !== null ? (json as { errors?: unknown }).errors : undefined;
  let text = Array.isArray(errors) ? errors.filter((e) => typeof e === "string").join("; ") : "";
  if (secret !== undefined && secret !== "") text = text.split(secret).join("<redacted>");
  text = text.replace(/\s+/g, " ").trim();
  return text.length > 400 ? `${text.slice(0, 400)}...` : text;
}
