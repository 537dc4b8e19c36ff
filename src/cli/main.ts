import "reflect-metadata";
import { Command, Option } from "commander";
import { isMeshsignError } from "../errors/index.js";
import { OPTIONS } from "../server/config.js";
import { VERSION } from "../server/version.js";

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
  .option("--config <file>", "YAML configuration file (keys are the camelCase option names)");
for (const o of OPTIONS) {
  const arg = o.kind === "bool" ? `${o.flag} [bool]` : `${o.flag} <value>`;
  serve.addOption(new Option(arg, o.description).argParser((v: string | undefined) => (o.kind === "bool" && v === undefined ? true : v)));
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
  .option("--data-dir <dir>", "data dir of the meshsign that will verify the token", ".meshsign")
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
  .option("--ttl <duration>", "requested lifetime", "24h")
  .option("--trust-domain <td>", "SPIFFE trust domain", "cluster.local")
  .option("--cluster-id <id>", "clusterid header to send")
  .option("--server-name <name>", "TLS server name (default: host of --address)")
  .option("--out <dir>", "where to write key.pem, cert-chain.pem and root-cert.pem", ".")
  .option("--data-dir <dir>", "data dir (dev token key, root CA)", ".meshsign")
  .action(async (opts) => {
    const { runRequest } = await import("./request.js");
    await runRequest(opts);
  });

const adminOptions = (c: Command) =>
  c
    .option("--data-dir <dir>", "data dir of the running meshsign (admin token, root CA)", ".meshsign")
    .option("--admin-address <host:port>", "admin API address", "127.0.0.1:9443")
    .option("-o, --output <format>", "text or json", "text");

adminOptions(
  program
    .command("status [ref]")
    .description("show meshsign's health and roots, or a Certificate's conditions, dates, last request and events (ns/name)")
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
    .description("inspect a Secret's certificates: inspect secret ns/name (never prints the key)")
    .action(async (what: string, ref: string, opts) => {
      const { runInspect } = await import("./admin-commands.js");
      await runInspect(what, ref, opts);
    }),
);
adminOptions(
  program
    .command("issuances")
    .description("list recently issued workload certificates")
    .option("--limit <n>", "how many", "20")
    .action(async (opts) => {
      const { runIssuances } = await import("./admin-commands.js");
      await runIssuances(opts);
    }),
);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (isMeshsignError(err)) {
    process.stderr.write(`meshsign: ${err.message}\n`);
  } else {
    process.stderr.write(`meshsign: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  // Exit now rather than set exitCode: a `serve` that fails half-way through start-up (say, the
  // store is locked by another meshsign) already holds listeners and workers that would keep
  // the process alive, hanging instead of failing.
  process.exit(1);
}
