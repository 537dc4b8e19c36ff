/**
 * The HTTP-01 solver listener (RFC 8555 §8.3): meshsign answers
 * `GET /.well-known/acme-challenge/<token>` itself, from an injected
 * lookup of token -> key authorization (later: the store's Challenges, so
 * every replica answers for every challenge and no solver Pod is scheduled).
 *
 * It serves nothing else: any other path, method or a token outside the
 * base64url charset is a 404 (405 for methods), with no body that could
 * reflect input. The key authorization is public by design (the CA fetches
 * it over plain HTTP); nothing secret is reachable here.
 *
 * `selfCheck` fetches the URL the CA will fetch and compares the body with
 * the key authorization before the challenge is accepted, as cert-manager's
 * self-check does (redirects followed, HTTPS without verification).
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { request as httpsRequest } from "node:https";
import { type AddressInfo, isIP, type LookupFunction } from "node:net";
import { MeshsignError } from "../../errors/index.js";
import { isValidToken } from "../lib/token.js";

export const CHALLENGE_PATH_PREFIX = "/.well-known/acme-challenge/";

/**
 * Token -> key authorization, or undefined when no challenge has this token.
 * `host` is the request's Host without port, lower-cased (undefined when
 * absent), so a lookup can answer only for the challenge's own name, as
 * cert-manager's solver does.
 */
export type ChallengeLookup = (
  token: string,
  host: string | undefined,
) => string | undefined | Promise<string | undefined>;

/**
 * The Host header without its port, lower-cased; undefined when absent or malformed. An IPv6
 * literal loses its brackets: `[2001:db8::1]` is the identifier `2001:db8::1` (RFC 8738 §3).
 */
function hostOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::\d{1,5})?$/.exec(header.trim());
  return (m?.[1] ?? m?.[2])?.toLowerCase();
}

export interface Http01SolverOptions {
  readonly lookup: ChallengeLookup;
  /** Called for each answered or refused request (for metrics and debug logs). */
  readonly observe?: (o: { readonly status: number; readonly token?: string }) => void;
}

export interface Http01Solver {
  /** Starts listening; resolves with the bound address. */
  listen(port: number, host?: string): Promise<AddressInfo>;
  close(): Promise<void>;
  readonly server: Server;
}

function send(res: ServerResponse, status: number, body = ""): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(body);
}

/** The token of a challenge request path, or undefined when the path is anything else. */
export function tokenFromPath(rawUrl: string | undefined): string | undefined {
  if (rawUrl === undefined || !rawUrl.startsWith(CHALLENGE_PATH_PREFIX)) return undefined;
  // The VA sends no query; anything after '?' is not part of the token and is ignored.
  const token = rawUrl.slice(CHALLENGE_PATH_PREFIX.length).split("?")[0] ?? "";
  return isValidToken(token) ? token : undefined;
}

export function createHttp01Solver(options: Http01SolverOptions): Http01Solver {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const token = tokenFromPath(req.url);
    if (token === undefined) {
      options.observe?.({ status: 404 });
      return send(res, 404);
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      options.observe?.({ status: 405, token });
      res.setHeader("allow", "GET, HEAD");
      return send(res, 405);
    }
    let keyAuthorization: string | undefined;
    try {
      keyAuthorization = await options.lookup(token, hostOf(req.headers.host));
    } catch {
      // The store is down: tell the CA to come back (it retries a few times), never 200.
      options.observe?.({ status: 503, token });
      return send(res, 503);
    }
    if (keyAuthorization === undefined || !keyAuthorization.startsWith(`${token}.`)) {
      options.observe?.({ status: 404, token });
      return send(res, 404);
    }
    options.observe?.({ status: 200, token });
    send(res, 200, req.method === "HEAD" ? "" : keyAuthorization);
  };
  const server = createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
    void handle(req, res);
  });
  // Challenge answers are tiny; a slow or idle client cannot hold sockets long.
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;
  return {
    server,
    listen(port, host = "0.0.0.0") {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

export interface SelfCheckOptions {
  /** The name being validated (the Host the CA uses). */
  readonly dnsName: string;
  readonly token: string;
  readonly keyAuthorization: string;
  /** Default 80, the port the CA fetches. */
  readonly port?: number;
  /** Connect here instead of resolving `dnsName` (the Host header is still `dnsName`). */
  readonly connectAddress?: string;
  /**
   * Deadline for the whole check, every redirect hop's connect, headers and body together (a
   * server that stalls mid-response or trickles bytes would otherwise hold the Challenge). Also the
   * socket idle timeout. Default 10 s.
   */
  readonly timeoutMs?: number;
}

const DEFAULT_SELF_CHECK_TIMEOUT_MS = 10_000;

/** Why a hop was given up; mapped to the self-check failure below. */
class DeadlineMissed extends Error {}

const MAX_REDIRECTS = 10;

/** A dns.lookup stand-in that always answers `address` (both callback shapes Node uses). */
function fixedLookup(address: string): LookupFunction {
  const family = isIP(address);
  if (family === 0)
    throw new MeshsignError("ERR_CONFIG_INVALID", "the self-check connect address is not an IP address");
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all === true) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as unknown as LookupFunction;
}
const MAX_BODY = 4096;

/**
 * Fetches `http://<dnsName>[:port]/.well-known/acme-challenge/<token>` as the
 * CA will and resolves when the body is the key authorization; otherwise
 * rejects with a transient ERR_ACME_SELF_CHECK saying what was seen.
 */
export async function selfCheck(options: SelfCheckOptions): Promise<void> {
  if (!isValidToken(options.token)) throw new MeshsignError("ERR_ACME_PROTOCOL", "malformed challenge token");
  const port = options.port ?? 80;
  const timeoutMs = options.timeoutMs ?? DEFAULT_SELF_CHECK_TIMEOUT_MS;
  const deadlineAt = performance.now() + timeoutMs;
  // An IPv6 address identifier is fetched at http://[address]/ (RFC 8738 §3, RFC 3986 §3.2.2).
  const host = isIP(options.dnsName) === 6 ? `[${options.dnsName}]` : options.dnsName;
  let url = new URL(`http://${host}${port === 80 ? "" : `:${port}`}${CHALLENGE_PATH_PREFIX}${options.token}`);
  const fail = (why: string, cause?: unknown): never => {
    throw new MeshsignError(
      "ERR_ACME_SELF_CHECK",
      `self check of http-01 for ${options.dnsName} failed: ${why}`,
      {
        retry: "transient",
        detail: { url: url.toString() },
        ...(cause === undefined ? {} : { cause }),
      },
    );
  };
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const first = hop === 0;
    const res = await new Promise<{ status: number; location?: string; body: string }>((resolve, reject) => {
      const left = deadlineAt - performance.now();
      if (left <= 0) {
        reject(new DeadlineMissed());
        return;
      }
      // The first of these settles the hop (a promise settles once); each stops the deadline.
      const fail = (err: unknown): void => {
        clearTimeout(deadline);
        reject(err);
        req.destroy();
      };
      const deadline = setTimeout(() => fail(new DeadlineMissed()), left);
      const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(
        url,
        {
          method: "GET",
          timeout: timeoutMs,
          headers: { host: url.host, "user-agent": "meshsign-acme-self-check" },
          // Like the CA after a redirect to HTTPS: the certificate is not what is being checked.
          ...(url.protocol === "https:" ? { rejectUnauthorized: false } : {}),
          ...(first && options.connectAddress !== undefined
            ? { lookup: fixedLookup(options.connectAddress) }
            : {}),
        },
        (r) => {
          let body = "";
          r.setEncoding("utf8");
          r.on("data", (c: string) => {
            body += c;
            if (body.length > MAX_BODY) fail(new Error(`a body over ${MAX_BODY} bytes`));
          });
          r.on("end", () => {
            clearTimeout(deadline);
            resolve({
              status: r.statusCode ?? 0,
              body,
              ...(r.headers.location ? { location: r.headers.location } : {}),
            });
          });
          r.on("error", fail);
        },
      );
      req.on("timeout", () => fail(new Error(`idle for ${timeoutMs} ms`)));
      req.on("error", fail);
      req.end();
    }).catch((err: unknown) =>
      err instanceof DeadlineMissed
        ? fail(`no complete answer within ${timeoutMs} ms (connect, headers and body)`)
        : fail(
            `${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (a firewall, or a NAT without hairpinning?)`,
            err,
          ),
    );
    if (res.status >= 300 && res.status < 400 && res.location !== undefined) {
      // Said here, not as new URL's TypeError: the Challenge would take that for a terminal internal error.
      if (!URL.canParse(res.location, url.toString()))
        fail(`a redirect to a Location that is not a URL (HTTP ${res.status})`);
      url = new URL(res.location, url);
      continue;
    }
    if (res.status !== 200) fail(`HTTP ${res.status}`);
    if (res.body.trim() !== options.keyAuthorization) fail("the response is not the key authorization");
    return;
  }
  fail(`more than ${MAX_REDIRECTS} redirects`);
}
