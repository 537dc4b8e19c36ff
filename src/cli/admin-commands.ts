import { readFileSync } from "node:fs";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { MeshsignError } from "../errors/index.js";
import { AdminService } from "../gen/meshsign/admin/v1/admin_pb.js";
import { dataDirPaths, loadOrCreateAdminToken } from "../server/data-dir.js";

interface AdminOpts {
  dataDir: string;
  adminAddress: string;
  output: string;
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

function print(opts: AdminOpts, value: unknown, text: () => string): void {
  process.stdout.write(opts.output === "json" ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

export async function runStatus(ref: string | undefined, opts: AdminOpts): Promise<void> {
  const client = adminClient(opts);
  if (ref) {
    const { description } = await client.describeCertificate({ certificate: parseRef(ref) });
    print(opts, description, () => describeText(description ?? {}));
    return;
  }
  const [version, health, roots, certs] = await Promise.all([
    client.getVersion({}),
    client.getHealth({}),
    client.getRoots({}),
    client.listCertificates({}).catch(() => ({ certificates: [] })),
  ]);
  const value = { version: version.version, mode: version.mode, ready: health.ready, checks: health.checks, trustDomain: roots.trustDomain, certificates: certs.certificates };
  print(opts, value, () =>
    [
      `meshsign ${version.version} (${version.mode}) ${health.ready ? "ready" : "NOT ready"}`,
      ...Object.entries(health.checks).map(([k, v]) => `  [${v ? "+" : "-"}] ${k}`),
      `trust domain ${roots.trustDomain}; roots: ${roots.roots.map((r) => `${r.subject} (until ${r.notAfter ? new Date(Number(r.notAfter.seconds) * 1000).toISOString() : "?"})`).join("; ")}`,
      ...(certs.certificates.length ? ["certificates:", ...certs.certificates.map((c) => `  ${yamlish(c)}`)] : []),
    ].join("\n"),
  );
}

export async function runRenew(ref: string, opts: AdminOpts): Promise<void> {
  const r = parseRef(ref);
  await adminClient(opts).renewCertificate({ certificate: r });
  print(opts, { renewed: r }, () => `Manually triggered issuance of Certificate ${r.namespace}/${r.name}`);
}

export async function runInspect(what: string, ref: string, opts: AdminOpts): Promise<void> {
  if (what !== "secret") throw new MeshsignError("ERR_CONFIG_INVALID", `inspect: only "secret" can be inspected, not "${what}"`);
  const { inspection } = await adminClient(opts).inspectSecret({ secret: parseRef(ref) });
  print(opts, inspection, () => describeText(inspection ?? {}));
}

export async function runIssuances(opts: AdminOpts & { limit: string }): Promise<void> {
  const { issuances } = await adminClient(opts).listIssuances({ limit: Number(opts.limit) || 20 });
  const rows = issuances.map((i) => ({
    identity: i.identity,
    serial: i.serial,
    notAfter: i.notAfter ? new Date(Number(i.notAfter.seconds) * 1000).toISOString() : "",
    keyAlgorithm: i.keyAlgorithm,
  }));
  print(opts, rows, () => rows.map((r) => `${r.notAfter}  ${r.serial}  ${r.keyAlgorithm}  ${r.identity}`).join("\n"));
}

function yamlish(v: unknown): string {
  return JSON.stringify(v);
}

function describeText(value: object, indent = ""): string {
  const lines: string[] = [];
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v) => ["-", v]) : Object.entries(value);
  for (const [k, v] of entries) {
    const label = k === "-" ? `${indent}-` : `${indent}${k}:`;
    if (Array.isArray(v) && v.every((x) => x === null || typeof x !== "object")) {
      lines.push(`${label} ${v.join(", ")}`);
    } else if (v !== null && typeof v === "object") {
      lines.push(label);
      lines.push(describeText(v as object, `${indent}  `));
    } else {
      lines.push(`${label} ${String(v)}`);
    }
  }
  return lines.join("\n");
}
