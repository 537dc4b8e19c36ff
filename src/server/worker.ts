import cluster from "node:cluster";
import type { Logger } from "pino";
import { AggregatorRegistry, collectDefaultMetrics, register as globalRegistry } from "prom-client";
import type { Config } from "./config.js";
import { servingTlsOptions } from "./tls/serving-settings.js";
import { buildCsrStack, type CsrStack } from "./csr-stack.js";
import { dataDirPaths } from "./data-dir.js";
import { GrpcFrontend, grpcLimitsOf } from "./grpc-frontend.js";
import type { IssuanceRecord } from "./issuance-log.js";
import { endStartupHeap } from "./lib/startup-heap.js";
import { createLogger } from "./logger.js";
import { WorkerVault } from "./worker-vault.js";
import {
  type FromWorker,
  ISSUED_BATCH_MAX,
  ISSUED_FLUSH_MS,
  type RemoteIssuerInfo,
  type ToWorker,
} from "./worker-protocol.js";

/**
 * A CreateCertificate worker: builds the CSR stack from the configuration and
 * CA material the primary hands it, serves the shared TLS port, reports
 * issuances upward in batches and follows the primary's renewals, root and
 * issuer changes and shutdown.
 *
 * The configuration comes from the primary (validated there) rather than being
 * read again: a worker starts from its own entry point (worker-main.ts) and
 * never loads the command-line parser, the YAML reader or the option table
 * with its validators (and what they import).
 */
export function runWorker(): void {
  endStartupHeap();
  let config: Config | undefined;
  let log: Logger | undefined;
  collectDefaultMetrics({ register: globalRegistry });
  let stack: CsrStack | undefined;
  // Answers the primary's metric requests (prom-client listens once an AggregatorRegistry exists).
  AggregatorRegistry.setRegistries([globalRegistry]);
  new AggregatorRegistry();
  const send = (m: FromWorker) => process.send?.(m);
  let frontend: GrpcFrontend | undefined;
  // Workers follow the primary: a primary that dies takes its workers with it.
  process.on("disconnect", () => process.exit(0));
  // SIGTERM reaches the whole process group; the primary decides when workers stop.
  process.on("SIGTERM", () => {});
  process.on("SIGINT", () => {});
  let issued: IssuanceRecord[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  const flushIssued = () => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    if (issued.length === 0) return;
    send({ type: "issued", records: issued });
    issued = [];
  };
  const reportIssued = (record: IssuanceRecord) => {
    issued.push(record);
    if (issued.length >= ISSUED_BATCH_MAX) flushIssued();
    else flushTimer ??= setTimeout(flushIssued, ISSUED_FLUSH_MS).unref();
  };
  // A remote workload issuer (Vault): this worker calls it with the primary's token (worker-vault.ts).
  let vault: WorkerVault | undefined;
  const useRemote = async (remote: RemoteIssuerInfo) => {
    // Before init there is no stack yet; init carries the primary's current issuer.
    if (stack === undefined || log === undefined) return;
    vault ??= new WorkerVault({ send, log, metrics: globalRegistry });
    // The primary ran the self-test through the same issuer before telling the workers.
    await stack.setRemote(vault.use(remote), { selfTest: false });
  };
  const start = async (m: Extract<ToWorker, { type: "init" }>, c: Config, l: Logger) => {
    stack = await buildCsrStack(c, m.ca, l, globalRegistry, {
      dataDir: dataDirPaths(c.dataDir).dir,
      cryptoOnThreadPool: m.cryptoOnThreadPool === true,
    });
    if (m.remote) await useRemote(m.remote);
    frontend = new GrpcFrontend(stack.deps(reportIssued), m.pair, {
      address: c.servingAddress,
      requestClientCertificate: c.enableClientCertAuthenticator,
      clientCaPem: stack.roots(),
      log: l,
      limits: grpcLimitsOf(c),
      implementation: c.grpcImplementation,
      ...(stack.clientChains ? { clientChains: stack.clientChains } : {}),
      tls: servingTlsOptions(c),
    });
    send({ type: "ready", port: await frontend.start() });
  };
  process.on("message", (m: ToWorker) => {
    if (m.type === "init") {
      if (config !== undefined) return;
      config = m.config;
      const l = createLogger({
        level: config.logLevel,
        format: config.logFormat,
        name: `meshsign-worker-${cluster.worker?.id}`,
      });
      log = l;
      start(m, config, l).catch((err: unknown) => {
        l.fatal({ err }, "cannot start the CreateCertificate listener");
        l.flush();
        process.exit(1);
      });
    } else if (m.type === "serving") {
      frontend?.updateServing(m.pair);
    } else if (m.type === "ca") {
      stack?.setCa(m.ca).then(
        () => {
          vault?.drop();
          frontend?.updateRoots(m.ca.rootsPem);
        },
        (err: unknown) => log?.error({ err }, "new signing CA refused"),
      );
    } else if (m.type === "remote") {
      useRemote(m.remote).then(
        () => frontend?.updateRoots(m.remote.rootsPem),
        (err: unknown) => log?.error({ err }, "remote issuer refused"),
      );
    } else if (m.type === "vault-token" || m.type === "vault-token-refused") {
      vault?.onMessage(m);
    } else if (m.type === "roots") {
      stack?.setRoots(m.pem).then(
        () => frontend?.updateRoots(m.pem),
        (err: unknown) => log?.error({ err }, "new roots refused"),
      );
    } else if (m.type === "shutdown") {
      void (async () => {
        await frontend?.shutdown(config?.shutdownGracePeriod ?? 0);
        flushIssued();
        vault?.close();
        await stack?.close();
        log?.flush();
        process.exit(0);
      })();
    }
  });
  send({ type: "hello" });
}
