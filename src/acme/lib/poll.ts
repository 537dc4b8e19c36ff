import { MeshsignError } from "../../errors/index.js";
import type { AcmeClient } from "../client.js";
import { header } from "./json.js";
import { retryAfterMs } from "./retry-after.js";

/** Waits between polls of a pending resource: the CA's Retry-After, clamped to [MIN, MAX]. */
export const MIN_POLL_MS = 500;
export const MAX_POLL_MS = 30_000;
const DEFAULT_POLL_MS = 1_000;

/**
 * Fetches `url` (POST-as-GET) until `done` says so, sleeping the CA's
 * Retry-After between polls (RFC 8555 §7.5.1, §7.4). Fails with a transient
 * ERR_ACME_TIMEOUT at `deadlineMs` on the client's clock: a pending resource
 * never hangs a caller forever. `onWait` is told before each sleep with the
 * number of polls so far (a caller can report a wait that outlasts a poll).
 */
export async function pollUntil<T>(
  client: AcmeClient,
  url: string,
  action: string,
  read: (body: Record<string, unknown>) => T,
  done: (value: T) => boolean,
  deadlineMs: number,
  onWait?: (polls: number) => Promise<void>,
): Promise<T> {
  for (let polls = 1; ; polls++) {
    const { body, response } = await client.fetchJson(url, action);
    const value = read(body);
    if (done(value)) return value;
    const now = client.now();
    const hinted = retryAfterMs(header(response.headers, "retry-after"), now) ?? DEFAULT_POLL_MS;
    const wait = Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, hinted));
    if (now + wait > deadlineMs)
      throw new MeshsignError("ERR_ACME_TIMEOUT", `${action} was still not done at its deadline`, {
        retry: "transient",
        detail: { url },
      });
    await onWait?.(polls);
    await client.sleep(wait);
  }
}
