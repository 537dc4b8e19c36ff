/**
 * The four Cloudflare API v4 calls the provider makes, with fetch: list zones
 * by name, list TXT records by name, create a record, delete a record.
 * Cloudflare answers `{success, errors: [{code, message, error_chain}],
 * result}`; a failure carries those codes and messages (they name what was
 * refused, e.g. `10000: Authentication error`) and is transient for 429, 5xx
 * and network failures, terminal otherwise. Credentials go in headers only
 * and never into a message.
 */
import { MeshsignError } from "../../../../../errors/index.js";

/** API token (preferred, `Authorization: Bearer`) or the global API key with its account email. */
export type CloudflareAuth =
  | { readonly kind: "token"; readonly token: string }
  | { readonly kind: "key"; readonly email: string; readonly key: string };

export interface CloudflareClientOptions {
  /** e.g. `https://api.cloudflare.com/client/v4` (no trailing slash). */
  readonly baseUrl: string;
  readonly auth: CloudflareAuth;
  readonly fetch: typeof fetch;
  /** Per request. */
  readonly timeoutMs: number;
}

export interface CloudflareZone {
  readonly id: string;
  readonly name: string;
}

export interface CloudflareRecord {
  readonly id: string;
  readonly name: string;
  readonly content: string;
}

interface Envelope {
  readonly success?: unknown;
  readonly errors?: ReadonlyArray<{ code?: unknown; message?: unknown; error_chain?: unknown }>;
  readonly result?: unknown;
}

function describeErrors(errors: Envelope["errors"]): string {
  const parts: string[] = [];
  for (const e of errors ?? []) {
    let text = `${String(e.code ?? "?")}: ${String(e.message ?? "")}`;
    if (Array.isArray(e.error_chain)) {
      for (const c of e.error_chain as Array<{ code?: unknown; message?: unknown }>) {
        text += ` <- ${String(c.code ?? "?")}: ${String(c.message ?? "")}`;
      }
    }
    parts.push(text);
  }
  return parts.join("; ");
}

export class CloudflareClient {
  readonly #o: CloudflareClientOptions;

  constructor(options: CloudflareClientOptions) {
    this.#o = options;
  }

  /** One call; answers the envelope's `result`. `what` names the call in errors (no ids of secrets). */
  async #call(
    method: "GET" | "POST" | "DELETE",
    path: string,
    what: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const headers: Record<string, string> = { accept: "application/json", "user-agent": "meshsign" };
    const auth = this.#o.auth;
    if (auth.kind === "token") headers.authorization = `Bearer ${auth.token}`;
    else {
      headers["x-auth-email"] = auth.email;
      headers["x-auth-key"] = auth.key;
    }
    if (body !== undefined) headers["content-type"] = "application/json";
    const timeout = AbortSignal.timeout(this.#o.timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await this.#o.fetch(`${this.#o.baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      });
      text = await res.text();
    } catch (err) {
      throw new MeshsignError(
        "ERR_DNS01_UNAVAILABLE",
        `Cloudflare ${what} failed, will retry: ${(err as Error).message}`,
        {
          retry: "transient",
          cause: err,
          detail: { method, path },
        },
      );
    }
    let envelope: Envelope | undefined;
    try {
      envelope = JSON.parse(text) as Envelope;
    } catch {
      envelope = undefined;
    }
    const transient = res.status === 429 || res.status >= 500;
    if (!res.ok || envelope?.success !== true) {
      const reason =
        envelope !== undefined && (envelope.errors?.length ?? 0) > 0
          ? describeErrors(envelope.errors)
          : `HTTP ${res.status}${envelope === undefined ? " (not a Cloudflare API answer)" : ""}`;
      const codes = (envelope?.errors ?? []).map((e) => e.code);
      throw new MeshsignError(
        transient ? "ERR_DNS01_UNAVAILABLE" : "ERR_DNS01_REFUSED",
        `Cloudflare ${what} ${transient ? "failed, will retry" : "refused"}: ${reason}`,
        {
          retry: transient ? "transient" : "terminal",
          detail: { method, path, httpStatus: res.status, codes },
        },
      );
    }
    return envelope.result;
  }

  /** Zones named exactly `name`. */
  async zonesNamed(name: string, signal?: AbortSignal): Promise<CloudflareZone[]> {
    const result = await this.#call(
      "GET",
      `/zones?name=${encodeURIComponent(name)}`,
      `zone lookup ${name}`,
      undefined,
      signal,
    );
    return (Array.isArray(result) ? result : [])
      .filter(
        (z): z is { id: string; name: string } => typeof z?.id === "string" && typeof z?.name === "string",
      )
      .map((z) => ({ id: z.id, name: z.name }));
  }

  /** TXT records at `name` in the zone. */
  async txtRecords(zoneId: string, name: string, signal?: AbortSignal): Promise<CloudflareRecord[]> {
    const q = `type=TXT&name=${encodeURIComponent(name)}&per_page=100`;
    const result = await this.#call(
      "GET",
      `/zones/${encodeURIComponent(zoneId)}/dns_records?${q}`,
      `TXT record list ${name}`,
      undefined,
      signal,
    );
    return (Array.isArray(result) ? result : [])
      .filter(
        (r): r is { id: string; name: string; content: string } =>
          typeof r?.id === "string" && typeof r?.name === "string" && typeof r?.content === "string",
      )
      .map((r) => ({ id: r.id, name: r.name, content: r.content }));
  }

  async createTxt(
    zoneId: string,
    name: string,
    content: string,
    ttl: number,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.#call(
      "POST",
      `/zones/${encodeURIComponent(zoneId)}/dns_records`,
      `TXT record create ${name}`,
      { type: "TXT", name, content, ttl },
      signal,
    );
  }

  async deleteRecord(zoneId: string, recordId: string, name: string, signal?: AbortSignal): Promise<void> {
    await this.#call(
      "DELETE",
      `/zones/${encodeURIComponent(zoneId)}/dns_records/${encodeURIComponent(recordId)}`,
      `TXT record delete ${name}`,
      undefined,
      signal,
    );
  }
}
