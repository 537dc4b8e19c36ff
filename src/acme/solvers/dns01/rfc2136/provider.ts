/**
 * The RFC 2136 DNS-01 provider: writes and removes the challenge TXT record
 * on the user's own authoritative server (BIND, Knot, PowerDNS...) by dynamic
 * UPDATE, signed with TSIG when a key is configured.
 *
 * Same behaviour as cert-manager's `rfc2136` solver: TTL 60, TSIG fudge 300,
 * HMAC-MD5 when `tsigAlgorithm` is unset, UDP unless `protocol: TCP`, port 53
 * when the nameserver has none. Beyond it: UDP answers that come back
 * truncated are retried over TCP, the answer's TSIG is verified (an
 * unverifiable answer is not taken as success), only the one value is removed
 * on clean-up, and failures say what the server refused:
 * - NOTAUTH, REFUSED and TSIG errors (BADSIG, BADKEY, BADTIME) are terminal
 *   `ERR_DNS01_REFUSED` (the same update would be refused again until the
 *   key, ACL or clock is fixed);
 * - timeouts, network errors and SERVFAIL are transient `ERR_DNS01_UNAVAILABLE`.
 */
import { createSecretKey, randomInt } from "node:crypto";
import { acmeDns01Schema } from "../../../../api/schemas/acme.js";
import { MeshsignError } from "../../../../errors/index.js";
import { type DnsExchange, type DnsProtocol, exchangeDns } from "../lib/exchange.js";
import { formatNameserver, parseNameserver, type UdpTcpNameserver } from "../lib/nameserver.js";
import type { Dns01BuildContext, Dns01Provider, Dns01Record } from "../provider.js";
import { buildTxtUpdate, type UpdateAction } from "./message.js";
import { signTsig, type TsigAlgorithm, type TsigKey, verifyTsigAnswer } from "./tsig.js";

/** TTL of the challenge record (cert-manager's). */
export const RFC2136_TXT_TTL_SECONDS = 60;
/** Timeout of one UPDATE exchange (cert-manager's DNS timeout). */
export const RFC2136_TIMEOUT_MS = 10_000;
/** cert-manager's default when `tsigAlgorithm` is unset. */
export const RFC2136_DEFAULT_TSIG_ALGORITHM: TsigAlgorithm = "HMACMD5";

/** What tests (and only tests) replace. */
export interface Rfc2136Deps {
  readonly exchange?: DnsExchange;
  /** Milliseconds since the epoch; TSIG signs the time and checks the answer's. */
  readonly now?: () => number;
  readonly timeoutMs?: number;
}

const RCODES: Readonly<Record<number, string>> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
  6: "YXDOMAIN",
  7: "YXRRSET",
  8: "NXRRSET",
  9: "NOTAUTH",
  10: "NOTZONE",
};

const rfc2136Schema = acmeDns01Schema.shape.rfc2136.unwrap();

function invalid(message: string): MeshsignError {
  return new MeshsignError("ERR_RESOURCE_INVALID", `rfc2136: ${message}`, { retry: "terminal" });
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i;

function domain(name: string, what: string): string {
  const n = name.trim().replace(/\.$/, "");
  if (n === "" || n.length > 253 || !n.split(".").every((l) => LABEL.test(l)))
    throw invalid(`${what} "${name}" is not a domain name`);
  return `${n}.`;
}

/** The TSIG secret as Kubernetes Secrets hold it: base64, surrounding whitespace (a file's newline) ignored. */
function decodeSecret(raw: string, ref: string): Buffer {
  const s = raw.trim();
  if (s === "" || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) {
    throw invalid(`the TSIG secret in ${ref} is not base64`);
  }
  return Buffer.from(s, "base64");
}

interface Settings {
  readonly nameserver: UdpTcpNameserver;
  readonly protocol: DnsProtocol;
  readonly key?: TsigKey;
}

async function settings(config: unknown, ctx: Dns01BuildContext): Promise<Settings> {
  const parsed = rfc2136Schema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`${issue?.path.join(".") || "config"}: ${issue?.message ?? "invalid"}`);
  }
  const c = parsed.data;
  const ns = parseNameserver(c.nameserver);
  if (ns.kind !== "udp-tcp") throw invalid("nameserver must be host[:port]");
  const protocol: DnsProtocol = c.protocol ?? "UDP";
  if ((c.tsigKeyName === undefined) !== (c.tsigSecretSecretRef === undefined)) {
    throw invalid("tsigKeyName and tsigSecretSecretRef must be set together");
  }
  if (c.tsigKeyName === undefined || c.tsigSecretSecretRef === undefined) return { nameserver: ns, protocol };
  const ref = c.tsigSecretSecretRef;
  if (ref.key === undefined || ref.key === "") throw invalid("tsigSecretSecretRef.key is required");
  const where = `Secret ${ctx.secretNamespace}/${ref.name} key ${ref.key}`;
  const raw = await ctx.readSecretKey(ref.name, ref.key);
  if (raw === undefined) {
    // The Secret may be created after the Issuer: worth retrying.
    throw new MeshsignError("ERR_NOT_FOUND", `rfc2136: ${where} does not exist`, { retry: "transient" });
  }
  const key: TsigKey = {
    name: domain(c.tsigKeyName, "tsigKeyName"),
    algorithm: c.tsigAlgorithm ?? RFC2136_DEFAULT_TSIG_ALGORITHM,
    secret: createSecretKey(decodeSecret(raw, where)),
  };
  return { nameserver: ns, protocol, key };
}

function checkRecord(record: Dns01Record): { fqdn: string; zone: string } {
  const fqdn = domain(record.fqdn, "record name").toLowerCase();
  const zone = domain(record.zone, "zone").toLowerCase();
  if (fqdn !== zone && !fqdn.endsWith(`.${zone}`)) throw invalid(`${fqdn} is not inside zone ${zone}`);
  if (record.value === "" || Buffer.byteLength(record.value) > 1024)
    throw invalid("the TXT value must be 1-1024 bytes");
  return { fqdn, zone };
}

class Rfc2136Provider implements Dns01Provider {
  readonly name = "rfc2136";

  constructor(
    private readonly s: Settings,
    private readonly exchange: DnsExchange,
    private readonly now: () => number,
    private readonly timeoutMs: number,
  ) {}

  present(record: Dns01Record, _challenge: unknown, signal?: AbortSignal): Promise<void> {
    return this.update("add", record, signal);
  }

  cleanUp(record: Dns01Record, _challenge: unknown, signal?: AbortSignal): Promise<void> {
    return this.update("delete", record, signal);
  }

  private async update(action: UpdateAction, record: Dns01Record, signal?: AbortSignal): Promise<void> {
    const { fqdn, zone } = checkRecord(record);
    const server = formatNameserver(this.s.nameserver);
    const what = `${action === "add" ? "adding" : "removing"} TXT ${fqdn} in zone ${zone} at ${server}`;
    const unsigned = buildTxtUpdate({
      id: randomInt(0, 0x10000),
      zone,
      fqdn,
      value: record.value,
      action,
      ttl: RFC2136_TXT_TTL_SECONDS,
    });
    const key = this.s.key;
    const signed = key === undefined ? undefined : signTsig(unsigned, key, Math.floor(this.now() / 1000));
    let answer: Buffer;
    try {
      answer = await this.exchange(this.s.nameserver, signed?.message ?? unsigned, {
        protocol: this.s.protocol,
        timeoutMs: this.timeoutMs,
        signal,
      });
    } catch (err) {
      if (err instanceof MeshsignError) {
        throw new MeshsignError(err.code, `rfc2136: ${what}: ${err.message}`, {
          retry: err.retry,
          cause: err,
        });
      }
      throw err;
    }
    const rcodeNum = answer.readUInt16BE(2) & 0xf;
    const rcode = RCODES[rcodeNum] ?? `RCODE ${rcodeNum}`;
    const keyName = key === undefined ? "" : ` (TSIG key ${key.name}, ${key.algorithm})`;
    if (key !== undefined && signed !== undefined) {
      let verdict: ReturnType<typeof verifyTsigAnswer>;
      try {
        verdict = verifyTsigAnswer(answer, key, signed.mac, Math.floor(this.now() / 1000));
      } catch (err) {
        throw new MeshsignError("ERR_DNS01_UNAVAILABLE", `rfc2136: ${what}: the answer is malformed`, {
          retry: "transient",
          cause: err,
        });
      }
      if (!verdict.ok) {
        // BADSIG/BADKEY come unsigned (the server cannot sign with a key it rejects), BADTIME signed.
        const tsigError = verdict.kind === "invalid" ? undefined : verdict.tsigError;
        if (tsigError !== undefined) {
          throw refused(
            `${what}: the server refused the update: ${rcode}, TSIG ${tsigError}${keyName}${hint(tsigError)}`,
          );
        }
        if (verdict.kind === "invalid") throw refused(`${what}: ${verdict.why}${keyName}`);
        // Unsigned without a TSIG error: only an error rcode is believed (it changes nothing).
        if (rcodeNum === 0) throw refused(`${what}: the server's answer is not TSIG-signed${keyName}`);
      }
    }
    if (rcodeNum === 0) return;
    if (rcodeNum === 2) {
      throw new MeshsignError("ERR_DNS01_UNAVAILABLE", `rfc2136: ${what}: the server answered SERVFAIL`, {
        retry: "transient",
      });
    }
    throw refused(`${what}: the server refused the update: ${rcode}${keyName}`);
  }
}

function hint(tsigError: string): string {
  if (tsigError === "BADSIG") return ": the TSIG secret does not match the server's";
  if (tsigError === "BADKEY") return ": the server does not know this key name and algorithm";
  if (tsigError === "BADTIME") return ": the clocks of meshsign and the server differ by more than 300 s";
  return "";
}

function refused(message: string): MeshsignError {
  return new MeshsignError("ERR_DNS01_REFUSED", `rfc2136: ${message}`, { retry: "terminal" });
}

/** Builds the provider for one `rfc2136` block; reads the TSIG Secret once. */
export async function createRfc2136Provider(
  config: unknown,
  ctx: Dns01BuildContext,
  deps: Rfc2136Deps = {},
): Promise<Dns01Provider> {
  const s = await settings(config, ctx);
  return new Rfc2136Provider(
    s,
    deps.exchange ?? exchangeDns,
    deps.now ?? Date.now,
    deps.timeoutMs ?? RFC2136_TIMEOUT_MS,
  );
}
