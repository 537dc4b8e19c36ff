import "reflect-metadata";
import { Command, Option } from "commander";
import { isMeshsignError } from "../errors/index.js";
import { OPTIONS } from "../server/config.js";
import { VERSION } from "../server/version.js";
import { SERVE_HELP_AFTER, serveOptionArgument, serveOptionHelp, serveOptionParser } from "./lib/serve-help.js";

/**
 * The `meshsign` command. Each subcommand lives in its own module and is
 * loaded only when used, so `meshsign token` does not pay for the server.
 */
const program = new Command("meshsign")
  .description("Certificate authority for Istio service meshes and SPIFFE workloads")
  .version(VERSION)
  .showHelpAfterError();

const serve = program
  .command("serve")
  .description("serve Istio's CreateCertificate (and the Certificate engine)")
  .option("--config <file>", "YAML configuration file (keys are the camelCase option names)")
  .addHelpText("after", SERVE_HELP_AFTER);
for (const o of OPTIONS) {
  serve.addOption(new Option(`${o.flag} ${serveOptionArgument(o)}`, serveOptionHelp(o)).argParser(serveOptionParser(o)));
}
serve.action(async (opts: Record<string, unknown>) => {
  const { runServe } = await import("../server/serve.js");
  // Flags are keyed by commander's camelCase of the flag; the config by option key.
  const flags: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const v = opts[new Option(o.flag).attributeName()];
    if (v !== undefined) flags[o.key] = v;
  }
  const file = opts.config;
  await runServe({ ...(typeof file === "string" ? { file } : {}), env: process.env, flags });
});

program
  .command("token")
  .description("print a development service-account token (only when the dev token issuer is enabled)")
  .requiredOption("-n, --namespace <ns>", "namespace of the service account")
  .requiredOption("-s, --service-account <sa>", "service account name")
  .option("--audience <aud>", "token audience", "istio-ca")
  .option("--ttl <duration>", "token lifetime", "1h")
  .option("--pod-name <name>", "pod name claim")
  // No commander default: it would hide MESHSIGN_DATA_DIR and the --config file's dataDir (serve's default applies).
  .option("--data-dir <dir>", "data dir of the meshsign that will verify the token (default: as serve, MESHSIGN_DATA_DIR, the --config file's dataDir or .meshsign)")
  .option("--config <file>", "YAML configuration file")
  .action(async (opts) => {
    const { runToken } = await import("./token.js");
    await runToken(opts);
  });

program
  .command("request")
  .description("get a workload certificate the way istio-agent does")
  .requiredOption("-n, --namespace <ns>", "namespace of the workload")
  .requiredOption("-s, --service-account <sa>", "service account of the workload")
  .option("--address <host:port>", "meshsign's CreateCertificate address", "localhost:6443")
  .option("--ca-file <file>", "root CA bundle to verify meshsign (default <data-dir>/root-cert.pem)")
  .option("--token-file <file>", "service-account token to send (default: mint a dev token)")
  .option("--key-type <type>", "rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384 or ed25519", "ecdsa-p256")
  .option("--ttl <duration>", "requested lifetime, at least 1s; sent in whole seconds (a fraction is dropped, as istio-agent does)", "24h")
  .option("--trust-domain <td>", "SPIFFE trust domain (default: MESHSIGN_TRUST_DOMAIN or cluster.local, as serve)")
  .option("--cluster-id <id>", "clusterid header to send")
  .option("--server-name <name>", "TLS server name (default: host of --address)")
  .option("--out <dir>", "folder for key.pem (0600), cert-chain.pem (leaf + intermediates) and root-cert.pem; created 0700", "meshsign-certs")
  .option("--data-dir <dir>", "data dir (dev token key, root CA; default: MESHSIGN_DATA_DIR or .meshsign, as serve)")
  .action(async (opts) => {
    const { runRequest } = await import("./request.js");
    await runRequest(opts);
  });

program
  .command("bundle")
  .description("print the trust domain's SPIFFE bundle (as the bundle endpoint serves it) or its roots as PEM, from the data dir or a running meshsign (--url)")
  .option("--format <format>", "spiffe (JWK Set) or pem", "spiffe")
  .option("--data-dir <dir>", "data dir of meshsign (roots, bundle sequence; default: as serve, MESHSIGN_DATA_DIR, the --config file's dataDir or .meshsign)")
  .option("--config <file>", "YAML configuration file")
  .option("--url <url>", "fetch from a running meshsign's bundle endpoint instead, e.g. https://localhost:8443")
  .option("--ca-file <file>", "with --url: roots that authenticate the endpoint (default <data-dir>/root-cert.pem)")
  .option("--endpoint-id <id>", "with --url: authenticate the endpoint as https_spiffe by this SPIFFE ID, e.g. spiffe://cluster.local/meshsign")
  .action(async (opts) => {
    const { runBundle } = await import("./bundle.js");
    await runBundle(opts);
  });

const adminOptions = (c: Command) =>
  c
    // No commander defaults: they would hide MESHSIGN_DATA_DIR and MESHSIGN_ADMIN_ADDRESS (serve's defaults apply).
    .option("--data-dir <dir>", "data dir of the running meshsign (admin token, root CA; default: MESHSIGN_DATA_DIR or .meshsign, as serve)")
    .option("--admin-address <host:port>", "admin API address (default: MESHSIGN_ADMIN_ADDRESS or 127.0.0.1:9443, as serve)")
    .option("-o, --output <format>", "text, json or yaml", "text");

adminOptions(
  program
    .command("status [ref]")
    .description("show meshsign's health, roots, a table of Certificates and the manifests it refused; with ns/name, one Certificate's conditions, dates, last request, its ACME Order and Challenges, and events; `status issuers` lists the Issuers and ClusterIssuers and why any is not ready")
    .action(async (ref: string | undefined, opts) => {
      const { runStatus } = await import("./admin-commands.js");
      await runStatus(ref, opts);
    }),
);
adminOptions(
  program
    .command("renew <ref>")
    .description("renew a Certificate now (ns/name), skipping any back-off")
    .action(async (ref: string, opts) => {
      const { runRenew } = await import("./admin-commands.js");
      await runRenew(ref, opts);
    }),
);
adminOptions(
  program
    .command("inspect <what> <ref>")
    .description("inspect a Secret's certificates: inspect secret ns/name (never prints the key); an ACME Order's state, authorizations and Challenges: inspect order ns/name")
    .action(async (what: string, ref: string, opts) => {
      const { runInspect } = await import("./admin-commands.js");
      await runInspect(what, ref, opts);
    }),
);
adminOptions(
  program
    .command("issuances")
    .description("list the workload certificates issued since meshsign started, newest first")
    .option("--limit <n>", "how many", "20")
    .action(async (opts) => {
      const { runIssuances } = await import("./admin-commands.js");
      await runIssuances(opts);
    }),
);

const store = program.command("store").description("check or recover the standalone embedded store (<data-dir>/store)");
store
  .command("check")
  .description("report every damaged object file and journal record (read-only; exits 1 on damage)")
  .option("--data-dir <dir>", "data dir of meshsign (default: MESHSIGN_DATA_DIR or .meshsign, as serve)")
  .option("-o, --output <format>", "text or json", "text")
  .action(async (opts) => {
    const { runStoreCheck } = await import("./store.js");
    await runStoreCheck(opts);
  });
store
  .command("recover")
  .description("with meshsign stopped: move damaged files to <data-dir>/store/quarantine/ and rebuild each object from its surviving copies")
  .option("--data-dir <dir>", "data dir of meshsign (default: MESHSIGN_DATA_DIR or .meshsign, as serve)")
  .option("--accept-loss", "proceed even when some objects have no surviving copy")
  .option("-o, --output <format>", "text or json", "text")
  .action(async (opts) => {
    const { runStoreRecover } = await import("./store.js");
    await runStoreRecover(opts);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (isMeshsignError(err)) {
    process.stderr.write(`meshsign: ${err.message}\n`);
  } else if ((err as NodeJS.ErrnoException | undefined)?.code === "EADDRINUSE") {
    // serve checks its ports before start-up; this is a port taken in the instant since.
    process.stderr.write(`meshsign: ${(err as Error).message}: another program took it during start-up; change --serving-address, --readiness-probe-port, --metrics-port or --admin-address\n`);
  } else {
    process.stderr.write(`meshsign: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  // Exit now rather than set exitCode: a `serve` that fails half-way through start-up (say, the
  // store is locked by another meshsign) already holds listeners and workers that would keep
  // the process alive, hanging instead of failing.
  process.exit(1);
}
