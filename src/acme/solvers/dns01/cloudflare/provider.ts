/**
 * The Cloudflare DNS-01 provider: one TXT record per value (Cloudflare keeps
 * each value of a name as its own record), so present creates a record unless
 * one with our content is already there, and cleanUp deletes only records
 * whose content is our value. The zone is the nearest Cloudflare zone found by
 * walking up the name's labels; it is remembered for the provider's lifetime.
 */
import { MeshsignError } from "../../../../errors/index.js";
import type { Dns01ChallengeInfo, Dns01Provider, Dns01Record } from "../provider.js";
import type { CloudflareClient, CloudflareRecord } from "./lib/api.js";
import { zoneNameCandidates } from "./lib/zone-names.js";
import { checkApiRecord } from "../lib/check-record.js";

/** TTL of the TXT records this provider creates (cert-manager's Cloudflare value). */
export const CLOUDFLARE_TXT_TTL = 120;

/** Cloudflare's error code for "An identical record already exists." (a concurrent present won). */
const IDENTICAL_RECORD_EXISTS = 81058;

/** True when Cloudflare's record content is `value` (Cloudflare may answer TXT content quoted). */
function isOurs(record: CloudflareRecord, value: string): boolean {
  return record.content === value || record.content === `"${value}"`;
}

export class CloudflareProvider implements Dns01Provider {
  readonly name = "cloudflare";
  readonly #client: CloudflareClient;
  readonly #zones = new Map<string, string>();

  constructor(client: CloudflareClient) {
    this.#client = client;
  }

  async present(record: Dns01Record, _challenge: Dns01ChallengeInfo, signal?: AbortSignal): Promise<void> {
    checkApiRecord(record);
    const name = record.fqdn.replace(/\.$/, "").toLowerCase();
    const zoneId = await this.#zoneId(name, signal);
    const existing = await this.#client.txtRecords(zoneId, name, signal);
    if (existing.some((r) => isOurs(r, record.value))) return;
    try {
      await this.#client.createTxt(zoneId, name, record.value, CLOUDFLARE_TXT_TTL, signal);
    } catch (err) {
      if (
        err instanceof MeshsignError &&
        (err.detail.codes as unknown[] | undefined)?.includes(IDENTICAL_RECORD_EXISTS)
      ) {
        return;
      }
      throw err;
    }
  }

  async cleanUp(record: Dns01Record, _challenge: Dns01ChallengeInfo, signal?: AbortSignal): Promise<void> {
    checkApiRecord(record);
    const name = record.fqdn.replace(/\.$/, "").toLowerCase();
    const zoneId = await this.#zoneId(name, signal);
    const ours = (await this.#client.txtRecords(zoneId, name, signal)).filter((r) => isOurs(r, record.value));
    for (const r of ours) {
      try {
        await this.#client.deleteRecord(zoneId, r.id, name, signal);
      } catch (err) {
        // Deleted meanwhile (another cleanUp of the same value): the outcome we want.
        if (err instanceof MeshsignError && err.detail.httpStatus === 404) continue;
        throw err;
      }
    }
  }

  /** The nearest zone: asks for each parent name in turn, most specific first; remembered per name. */
  async #zoneId(name: string, signal: AbortSignal | undefined): Promise<string> {
    const known = this.#zones.get(name);
    if (known !== undefined) return known;
    const candidates = zoneNameCandidates(name);
    for (const candidate of candidates) {
      const zone = (await this.#client.zonesNamed(candidate, signal)).find(
        (z) => z.name.toLowerCase() === candidate,
      );
      if (zone !== undefined) {
        this.#zones.set(name, zone.id);
        return zone.id;
      }
    }
    throw new MeshsignError(
      "ERR_DNS01_REFUSED",
      `no Cloudflare zone found for ${name} (looked up ${candidates.join(", ")}); is the zone in this account and may the token read it (Zone:Read)?`,
      { retry: "terminal", detail: { name, candidates } },
    );
  }
}
