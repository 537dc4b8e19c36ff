/**
 * The ACME HTTP-01 solver listener of `meshsign serve`
 * (`--acme-http01-solver-address`, default `0.0.0.0:8089`, cert-manager's
 * solver port): answers `GET /.well-known/acme-challenge/<token>` from the
 * Challenges in the store, which it watches itself, so every replica (leader
 * or not, in Kubernetes mode) answers for every challenge and nothing is
 * scheduled per challenge.
 *
 * It opens once the store holds an ACME Issuer or ClusterIssuer (a meshsign
 * without ACME opens no extra port) and stays open until shutdown. A port
 * that cannot be bound is logged; the Challenges then say their self-check
 * fails.
 */
import type { Logger } from "pino";
import { createHttp01Solver, type Http01Solver } from "../acme/index.js";
import { CHALLENGES, type Challenge, CLUSTER_ISSUERS, ISSUERS } from "../api/types.js";
import type { KubeObject, Store, Watch } from "../store/types.js";

export interface AcmeSolverListener {
  /** The bound port once open (tests use port 0). */
  port(): number | undefined;
  stop(): Promise<void>;
}

/** The key authorizations of the store's HTTP-01 Challenges, by token, kept current by a watch. */
export interface Http01Tokens {
  /** The key authorization for `token`, only when `host` (lower case, no port) is its Challenge's name. */
  lookup(token: string, host: string | undefined): string | undefined;
  stop(): void;
}

/**
 * Watches the store's Challenges for the solver listener's answers. `onServed`
 * is told each token a lookup answered (the CA has fetched it).
 */
export function watchHttp01Tokens(store: Store, onServed?: (token: string) => void): Http01Tokens {
  /** HTTP-01 token -> the Challenge's name and key authorization. */
  const tokens = new Map<string, { dnsName: string; key: string }>();
  const watch = store.watch<Challenge>(CHALLENGES, (e) => {
    if (e.object.spec.type !== "HTTP-01") return;
    if (e.type === "DELETED") tokens.delete(e.object.spec.token);
    else tokens.set(e.object.spec.token, { dnsName: e.object.spec.dnsName, key: e.object.spec.key });
  });
  return {
    lookup: (token, host) => {
      const c = tokens.get(token);
      if (c === undefined || host === undefined || c.dnsName.toLowerCase() !== host) return undefined;
      onServed?.(token);
      return c.key;
    },
    stop: () => watch.stop(),
  };
}

export function startAcmeSolverListener(options: {
  readonly store: Store;
  readonly address: string;
  readonly log: Logger;
  /** Told each token it answers for (the CA has fetched it): standalone, the engine looks at the authorization then. */
  readonly onServed?: (token: string) => void;
}): AcmeSolverListener {
  const { store, address, log } = options;
  const tokens = watchHttp01Tokens(store, options.onServed);
  let solver: Http01Solver | undefined;
  let opening: Promise<void> | undefined;
  let bound: number | undefined;
  let stopped = false;
  const open = (): void => {
    if (opening !== undefined || stopped) return;
    // host:port, [v6]:port or :port (all interfaces), as the other listen flags.
    const i = address.lastIndexOf(":");
    const host = address.slice(0, i).replace(/^\[|\]$/g, "") || "0.0.0.0";
    const port = Number(address.slice(i + 1));
    const s = createHttp01Solver({ lookup: tokens.lookup });
    opening = s.listen(port, host).then(
      (info) => {
        solver = s;
        bound = info.port;
        log.info({ address: `${host}:${info.port}` }, "ACME HTTP-01 solver listening");
        if (stopped) void s.close();
      },
      (err: unknown) =>
        log.error(
          { err, address },
          "ACME HTTP-01 solver cannot listen (--acme-http01-solver-address); HTTP-01 challenges will fail their self-check",
        ),
    );
  };
  const watches: Watch[] = [ISSUERS, CLUSTER_ISSUERS].map((type) =>
    store.watch<KubeObject & { spec?: { acme?: unknown } }>(type, (e) => {
      if (e.type !== "DELETED" && e.object.spec?.acme !== undefined && e.object.spec.acme !== null) open();
    }),
  );
  return {
    port: () => bound,
    stop: async () => {
      stopped = true;
      tokens.stop();
      for (const w of watches) w.stop();
      await opening;
      await solver?.close();
    },
  };
}
