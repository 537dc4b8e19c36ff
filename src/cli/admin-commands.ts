import { readFileSync } from "node:fs";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { MeshsignError } from "../errors/index.js";
import { AdminService } from "../gen/meshsign/admin/v1/admin_pb.js";
import { stringify as stringifyYaml } from "yaml";
import { loadConfig } from "../server/config.js";
import { dataDirPaths, loadOrCreateAdminToken } from "../server/data-dir.js";
import { type CertificateDescriptionView, type CertificateRow, certificateDetail, certificatesTable, effectiveReason, type IssuerRow, issuersTable, type LeftoverRecordView, leftoverRecordsText, type ManifestProblemView, manifestProblemsText } from "./lib/status-views.js";
import { type OrderDetailView, orderDetail } from "./lib/order-views.js";
import { renderTable } from "./lib/table.js";

interface AdminOpts {
  dataDir: string;
  adminAddress: string;
  output: string;
}

/** The flags as given: --data-dir and --admin-address may be absent. */
interface AdminFlags {
  dataDir?: string;
  adminAddress?: string;
  output: string;
}

/**
 * --data-dir and --admin-address as given, else where serve takes them from: MESHSIGN_DATA_DIR and
 * MESHSIGN_ADMIN_ADDRESS, else serve's defaults. So a meshsign started with those variables is
 * reached by the admin commands run in the same environment, as the errors below advise.
 */
function resolved(flags: AdminFlags): AdminOpts {
  const config = loadConfig(
    {
      env: process.env,
      flags: {
        ...(flags.dataDir !== undefined ? { dataDir: flags.dataDir } : {}),
        ...(flags.adminAddress !== undefined ? { adminAddress: flags.adminAddress } : {}),
      },
    },
    { purpose: "client" },
  );
  return { dataDir: config.dataDir, adminAddress: config.adminAddress, output: flags.output };
}

/** A Connect client of the running meshsign's admin API, authenticated by the data dir's admin token. */
function adminClient(opts: AdminOpts): Client<typeof AdminService> {
  const paths = dataDirPaths(opts.dataDir);
  const token = loadOrCreateAdminToken(paths, false);
  const transport = createConnectTransport({
    baseUrl: `https://${opts.adminAddress}`,
    httpVersion: "1.1",
    nodeOptions: { ca: readFileSync(paths.rootCert), servername: "localhost" },
    interceptors: [
      (next) => (req) => {
        req.header.set("authorization", `Bearer ${token}`);
        return next(req);
      },
    ],
  });
  return createClient(AdminService, transport);
}

function parseRef(ref: string): { namespace: string; name: string } {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(ref);
  if (!m) throw new MeshsignError("ERR_CONFIG_INVALID", `"${ref}" is not namespace/name`);
  return { namespace: m[1] as string, name: m[3] as string };
}

type OutputFormat = "text" | "json" | "yaml";

function outputFormat(opts: AdminOpts): OutputFormat {
  if (opts.output === "text" || opts.output === "json" || opts.output === "yaml") return opts.output;
  throw new MeshsignError("ERR_CONFIG_INVALID", `-o ${opts.output}: must be text, json or yaml`);
}

function print(opts: AdminOpts, value: unknown, text: () => string): void {
  const format = outputFormat(opts);
  if (format === "json") process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (format === "yaml") process.stdout.write(stringifyYaml(value));
  else process.stdout.write(`${text()}\n`);
}

/**
 * Runs admin calls, turning "nothing answers there" into what to check next:
 * a refused connection names the --admin-address (and its MESHSIGN_ variable),
 * a rejected token or an unknown server certificate names the --data-dir.
 */
async function call<T>(opts: AdminOpts, fn: (client: Client<typeof AdminService>) => Promise<T>): Promise<T> {
  const client = adminClient(opts);
  try {
    return await fn(client);
  } catch (err) {
    throw explainAdminError(err, opts);
  }
}

export async function runStatus(ref: string | undefined, flags: AdminFlags): Promise<void> {
  const opts = resolved(flags);
  outputFormat(opts);
  if (ref === "issuers") {
    const rows = await call(opts, async (c) => (await c.listIssuers({})).issuers as unknown as IssuerRow[]);
    print(opts, { issuers: rows }, () => issuersTable(rows, Date.now()));
    return;
  }
  if (ref) {
    const description = await call(opts, async (c) => (await c.describeCertificate({ certificate: parseRef(ref) })).description ?? {});
    const d = description as unknown as CertificateDescriptionView;
    print(opts, description, () => certificateDetail(d, Date.now()));
    return;
  }
  const { version, health, roots, certificates, leftovers } = await call(opts, async (client) => {
    const [version, health, roots, certs, left] = await Promise.all([
      client.getVersion({}),
      client.getHealth({}),
      client.getRoots({}),
      // Absent until the engine runs (and never on a CA-only process): no table then.
      client.listCertificates({}).catch(() => undefined),
      client.listLeftoverDns01Records({}).catch(() => undefined),
    ]);
    let rows = certs?.certificates as unknown as CertificateRow[] | undefined;
    if (rows !== undefined && outputFormat(opts) === "text") rows = await withEffectiveReasons(client, rows);
    return { version, health, roots, certificates: rows, leftovers: left?.records as unknown as LeftoverRecordView[] | undefined };
  });
  const manifests = readManifestProblems(dataDirPaths(opts.dataDir).manifestsReport);
  const value = {
    version: version.version,
    mode: version.mode,
    ready: health.ready,
    checks: health.checks,
    trustDomain: roots.trustDomain,
    roots: roots.roots.map((r) => ({ subject: r.subject, serial: r.serial, notAfter: timestampIso(r.notAfter), sha256Fingerprint: r.sha256Fingerprint })),
    ...(certificates !== undefined ? { certificates } : {}),
    ...(leftovers !== undefined && leftovers.length > 0 ? { leftoverDns01Records: leftovers } : {}),
    ...(manifests !== undefined ? { manifests } : {}),
  };
  print(opts, value, () => {
    const lines = [
      `meshsign ${version.version} (${version.mode}) ${health.ready ? "ready" : "NOT ready"}`,
      ...Object.entries(health.checks).map(([k, ok]) => `  [${ok ? "+" : "-"}] ${k}${ok ? "" : " failing"}`),
      `Trust domain: ${roots.trustDomain}`,
      ...roots.roots.map((r) => `Root CA:      ${r.subject}, until ${timestampIso(r.notAfter) ?? "?"}`),
      "",
      certificates === undefined ? "Certificates: the engine is not running in this process." : certificatesTable(certificates, Date.now()),
    ];
    const left = leftoverRecordsText(leftovers ?? [], Date.now());
    if (left !== "") lines.push("", left);
    const problems = manifests === undefined ? "" : manifestProblemsText(manifests.dir, manifests.problems);
    if (problems !== "") lines.push("", problems);
    return lines.join("\n");
  });
}

/** Not-Ready rows get the reason from their request (`UnsupportedIssuerType`, not `DoesNotExist`); at most 50 look-ups. */
async function withEffectiveReasons(client: Client<typeof AdminService>, rows: CertificateRow[]): Promise<CertificateRow[]> {
  const notReady = rows.filter((r) => r.ready !== "True").slice(0, 50);
  const reasons = new Map<string, string>();
  await Promise.all(
    notReady.map(async (r) => {
      const d = await client.describeCertificate({ certificate: { namespace: r.namespace, name: r.name } }).catch(() => undefined);
      if (d?.description !== undefined) reasons.set(`${r.namespace}/${r.name}`, effectiveReason(d.description as unknown as CertificateDescriptionView));
    }),
  );
  return rows.map((r) => ({ ...r, reason: reasons.get(`${r.namespace}/${r.name}`) ?? r.reason }));
}

/** The server's last manifests report, when it runs with --manifests on this data dir. */
function readManifestProblems(file: string): { dir: string; at: string; problems: ManifestProblemView[] } | undefined {
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as { dir?: unknown; at?: unknown; problems?: unknown };
    if (typeof v.dir !== "string" || !Array.isArray(v.problems)) return undefined;
    return { dir: v.dir, at: typeof v.at === "string" ? v.at : "", problems: v.problems as ManifestProblemView[] };
  } catch {
    return undefined;
  }
}

function timestampIso(t: { seconds: bigint } | undefined): string | undefined {
  return t === undefined ? undefined : new Date(Number(t.seconds) * 1000).toISOString();
}

export async function runRenew(ref: string, flags: AdminFlags): Promise<void> {
  const opts = resolved(flags);
  const r = parseRef(ref);
  outputFormat(opts);
  await call(opts, (c) => c.renewCertificate({ certificate: r }));
  print(opts, { renewed: r }, () => `Manually triggered issuance of Certificate ${r.namespace}/${r.name}`);
}

export async function runInspect(what: string, ref: string, flags: AdminFlags): Promise<void> {
  const opts = resolved(flags);
  if (what !== "secret" && what !== "order") throw new MeshsignError("ERR_CONFIG_INVALID", `inspect: "secret" or "order" can be inspected, not "${what}"`);
  outputFormat(opts);
  if (what === "order") {
    const order = await call(opts, async (c) => (await c.inspectOrder({ order: parseRef(ref) })).order ?? {});
    print(opts, order, () => orderDetail(order as unknown as OrderDetailView, Date.now()));
    return;
  }
  const inspection = await call(opts, async (c) => (await c.inspectSecret({ secret: parseRef(ref) })).inspection ?? {});
  print(opts, inspection, () => describeText(inspection));
}

export async function runIssuances(flags: AdminFlags & { limit: string }): Promise<void> {
  const opts = { ...resolved(flags), limit: flags.limit };
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new MeshsignError("ERR_CONFIG_INVALID", `--limit ${opts.limit}: must be a whole number from 1 to 10000`);
  outputFormat(opts);
  const { issuances } = await call(opts, (c) => c.listIssuances({ limit }));
  const rows = issuances.map((i) => ({
    issuedAt: timestampIso(i.issuedAt) ?? "",
    notAfter: timestampIso(i.notAfter) ?? "",
    serial: i.serial,
    keyAlgorithm: i.keyAlgorithm,
    identity: i.identity,
  }));
  print(opts, rows, () =>
    rows.length === 0
      ? "No workload certificates issued since meshsign started (the list is kept in memory, newest first)."
      : renderTable(
          ["ISSUED", "EXPIRES", "SERIAL", "KEY", "IDENTITY"],
          rows.map((r) => [r.issuedAt, r.notAfter, r.serial, r.keyAlgorithm, r.identity]),
        ),
  );
}

/** What to check next when the admin API cannot be reached or refuses us. */
function explainAdminError(err: unknown, opts: AdminOpts): unknown {
  const text = errorText(err);
  const address = opts.adminAddress;
  if (/ECONNREFUSED/.test(text)) {
    return new MeshsignError("ERR_CONFIG_INVALID", `nothing answers at ${address} (connection refused): is meshsign running, and with this --admin-address? Give the same --admin-address (or MESHSIGN_ADMIN_ADDRESS) as the serve command.`, { cause: err });
  }
  if (/ENOTFOUND|EAI_AGAIN/.test(text)) {
    return new MeshsignError("ERR_CONFIG_INVALID", `--admin-address ${address}: the host name does not resolve`, { cause: err });
  }
  if (/ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/.test(text)) {
    return new MeshsignError("ERR_CONFIG_INVALID", `--admin-address ${address} cannot be reached (${/E[A-Z]+/.exec(text)?.[0]}): check the address and any firewall`, { cause: err });
  }
  // TLS verification failures only (Node's codes), not a server answer such as "Certificate a/b not found".
  if (/SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|DEPTH_ZERO_SELF_SIGNED|CERT_HAS_EXPIRED|ERR_TLS_CERT_ALTNAME_INVALID/.test(text)) {
    return new MeshsignError("ERR_CONFIG_INVALID", `the admin API at ${address} presents a certificate that ${dataDirPaths(opts.dataDir).rootCert} does not verify: is --data-dir the one meshsign serves with?`, { cause: err });
  }
  if (err instanceof ConnectError && err.code === Code.Unauthenticated) {
    return new MeshsignError("ERR_CONFIG_INVALID", `the admin API at ${address} refused the token in ${dataDirPaths(opts.dataDir).adminToken}: is --data-dir the one meshsign serves with?`, { cause: err });
  }
  if (err instanceof ConnectError) return new MeshsignError("ERR_CONFIG_INVALID", err.rawMessage, { cause: err });
  return err;
}

/** The message of an error and of its causes, where Node puts the errno code. */
function errorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 5; depth++) {
    parts.push(e.message, String((e as { code?: unknown }).code ?? ""));
    e = e.cause;
  }
  return parts.join(" ");
}

function describeText(value: object, indent = ""): string {
  const lines: string[] = [];
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v) => ["-", v]) : Object.entries(value);
  for (const [k, v] of entries) {
    const label = k === "-" ? `${indent}-` : `${indent}${k}:`;
    if (Array.isArray(v) && v.every((x) => x === null || typeof x !== "object")) {
      lines.push(`${label} ${v.length === 0 ? "[]" : v.join(", ")}`);
    } else if (v !== null && typeof v === "object") {
      // A list item's first field goes on the dash's line, as YAML writes it, never a bare "-".
      const inner = describeText(v as object, `${indent}  `);
      lines.push(k === "-" ? `${indent}- ${inner.trimStart()}` : `${label}\n${inner}`);
    } else {
      lines.push(`${label} ${String(v)}`);
    }
  }
  return lines.join("\n");
}
