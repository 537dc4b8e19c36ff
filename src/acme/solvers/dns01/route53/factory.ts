/**
 * Builds the Route53 provider for one solver's `route53` block: validates
 * the block, resolves credentials (see lib/credentials.ts) and wires the SDK
 * client, loading the AWS SDK only then (lib/client.ts). The pending-change
 * cache and the per-name lock live in the factory, so they are shared by
 * every provider it builds (one per Challenge attempt).
 */
import { acmeDns01Schema } from "../../../../api/schemas/acme.js";
import { MeshsignError } from "../../../../errors/index.js";
import type { Dns01ProviderFactory } from "../provider.js";
import { KeyedLock } from "./lib/keyed-lock.js";
import { PendingChanges } from "./lib/pending.js";
import { Route53Provider } from "./provider.js";

/** Options of the factory itself: injected by the process or by tests, never user fields. */
export interface Route53FactoryOptions {
  /** Route53 and STS endpoint (an emulator in tests); the SDK's default endpoints when absent. */
  readonly endpoint?: string;
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** How long one call polls GetChange before answering transient (default 15 s). */
  readonly inSyncPollMs?: number;
  /** How long a PENDING change is resumed before it is submitted again (default 10 min). */
  readonly inSyncDeadlineMs?: number;
  /** SDK attempts per call, throttling and 5xx included (default 4: Route53 allows 5 requests/s per account). */
  readonly maxAttempts?: number;
}

const route53Schema = acmeDns01Schema.shape.route53.unwrap();

function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A factory for `registerDns01Provider("route53", ...)`. */
export function createRoute53Factory(options: Route53FactoryOptions = {}): Dns01ProviderFactory {
  const pending = new PendingChanges();
  const locks = new KeyedLock();
  return async (config, _dns01, ctx) => {
    const parsed = route53Schema.safeParse(config);
    if (!parsed.success) {
      throw new MeshsignError(
        "ERR_DNS01_REFUSED",
        `invalid route53 solver: ${parsed.error.issues.map((i) => `${i.path.join(".") || "route53"}: ${i.message}`).join("; ")}`,
        { retry: "terminal" },
      );
    }
    const cfg = parsed.data;
    // Loaded on first use: see lib/client.ts.
    const { createRoute53Api } = await import("./lib/client.js");
    const api = await createRoute53Api(cfg, ctx, {
      endpoint: options.endpoint,
      maxAttempts: options.maxAttempts ?? 4,
    });
    return new Route53Provider({
      api,
      hostedZoneId: cfg.hostedZoneID,
      pending,
      locks,
      now: options.now ?? Date.now,
      sleep: options.sleep ?? sleepFor,
      ...(options.inSyncPollMs !== undefined ? { inSyncPollMs: options.inSyncPollMs } : {}),
      ...(options.inSyncDeadlineMs !== undefined ? { inSyncDeadlineMs: options.inSyncDeadlineMs } : {}),
    });
  };
}
