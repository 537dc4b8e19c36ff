import { humanDuration } from "./human-duration.js";
import { renderTable } from "./table.js";

/**
 * What `meshsign status` prints in text mode, as pure functions of the admin
 * API's answers and the time: a table like `kubectl get certificates`, and a
 * detail view like `cmctl status certificate`. JSON and YAML print the
 * answers themselves.
 */

export interface CertificateRow {
  readonly namespace: string;
  readonly name: string;
  readonly secretName: string;
  readonly issuer: string;
  readonly ready: string;
  readonly reason: string;
  readonly notAfter?: string;
  readonly creationTimestamp?: string;
}

export interface ConditionView {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string;
}

export interface EventView {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly count: number;
  readonly lastTimestamp: string;
  readonly object: string;
}

export interface CertificateDescriptionView extends CertificateRow {
  readonly conditions?: readonly ConditionView[];
  readonly notBefore?: string;
  readonly renewalTime?: string;
  readonly revision?: number;
  readonly failedIssuanceAttempts?: number;
  readonly lastFailureTime?: string;
  readonly nextCheck?: string;
  readonly lastRequest?: { name: string; revision?: number; conditions?: readonly ConditionView[]; failureTime?: string };
  readonly events?: readonly EventView[];
  /** ACME: the request's Order and its Challenges, when the issuer is ACME and the engine reports them. */
  readonly order?: { name: string; state?: string; reason?: string; url?: string };
  readonly challenges?: readonly ChallengeLineView[];
}

/** One ACME Challenge as the admin API describes it. */
export interface ChallengeLineView {
  readonly name: string;
  readonly type?: string;
  readonly dnsName?: string;
  readonly wildcard?: boolean;
  readonly solver?: string;
  readonly state?: string;
  readonly reason?: string;
  readonly presented?: boolean;
  /** Set while the Challenge's DNS-01 value outlives its final state or deletion. */
  readonly leftover?: LeftoverRecordView;
}

/** A DNS-01 value left behind after its Challenge (the admin API's ListLeftoverDns01Records). */
export interface LeftoverRecordView {
  readonly namespace?: string;
  readonly challenge?: string;
  readonly dnsName?: string;
  readonly fqdn: string;
  readonly provider?: string;
  readonly since?: string;
  readonly lastError?: string;
  readonly deleting?: boolean;
}

/** One row of `meshsign status issuers` (the admin API's ListIssuers). */
export interface IssuerRow {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly type: string;
  readonly ready: string;
  readonly reason: string;
  readonly message: string;
  readonly creationTimestamp?: string;
}

/** A problem the last manifests pass found (server's manifests-report.json). */
export interface ManifestProblemView {
  readonly document: string;
  readonly outcome: string;
  readonly problem: string;
}

/**
 * The reason a Certificate is not Ready, as a user would name it. The
 * Certificate's own Ready condition says only that the Secret is missing
 * (`DoesNotExist`, as cert-manager says) while the cause sits on its
 * request: an issuer that is not ready (`UnsupportedIssuerType`, `ErrGetKeyPair`),
 * a denied or failed request. The issuer's reason comes from the request's
 * message, which the engine writes as "Referenced issuer is not ready: <Reason>: <message>".
 */
export function effectiveReason(d: CertificateDescriptionView): string {
  if (d.ready === "True") return d.reason;
  const conds = d.lastRequest?.conditions ?? [];
  for (const type of ["Denied", "InvalidRequest"]) {
    const c = conds.find((x) => x.type === type && x.status === "True");
    if (c !== undefined) return c.reason || type;
  }
  const ready = conds.find((x) => x.type === "Ready");
  if (ready !== undefined && ready.status === "False") {
    const issuer = /^Referenced issuer is not ready: ([A-Z][A-Za-z0-9]*):/.exec(ready.message ?? "");
    if (issuer?.[1] !== undefined) return issuer[1];
    if (ready.reason !== undefined && ready.reason !== "" && ready.reason !== "Pending") return ready.reason;
  }
  return d.reason;
}

/** NAMESPACE NAME READY SECRET ISSUER REASON EXPIRY AGE */
export function certificatesTable(rows: readonly CertificateRow[], now: number): string {
  if (rows.length === 0) return "No Certificates found.";
  return renderTable(
    ["NAMESPACE", "NAME", "READY", "SECRET", "ISSUER", "REASON", "EXPIRY", "AGE"],
    rows.map((c) => [c.namespace, c.name, c.ready, c.secretName, c.issuer, c.reason, c.notAfter ?? "", age(c.creationTimestamp, now)]),
  );
}

/**
 * KIND NAMESPACE NAME TYPE READY REASON AGE, and under the table the message of
 * each Issuer that is not Ready (what `kubectl describe` would show first).
 */
export function issuersTable(rows: readonly IssuerRow[], now: number): string {
  if (rows.length === 0) return "No Issuers or ClusterIssuers found.";
  const table = renderTable(
    ["KIND", "NAMESPACE", "NAME", "TYPE", "READY", "REASON", "AGE"],
    rows.map((i) => [i.kind, i.namespace, i.name, i.type, i.ready, i.reason, age(i.creationTimestamp, now)]),
  );
  const notReady = rows.filter((i) => i.ready !== "True" && i.message !== "");
  if (notReady.length === 0) return table;
  const lines = notReady.map((i) => `  ${i.kind} ${i.namespace === "" ? "" : `${i.namespace}/`}${i.name}: ${i.message}`);
  return [table, "", "Not ready:", ...lines].join("\n");
}

/**
 * The overview's short section on DNS-01 values still at their provider after
 * their Challenge: FQDN, provider, since when, and the last clean-up error
 * (none while a value only waits for its sibling to be validated). Empty when
 * there are none.
 */
export function leftoverRecordsText(rows: readonly LeftoverRecordView[], now: number): string {
  if (rows.length === 0) return "";
  const table = renderTable(
    ["FQDN", "PROVIDER", "SINCE", "CHALLENGE", "LAST ERROR"],
    rows.map((r) => [
      r.fqdn,
      r.provider ?? "",
      r.since === undefined ? "" : `${age(r.since, now)} ago`,
      `${r.namespace ?? ""}/${r.challenge ?? ""}`,
      r.lastError ?? "none (clean-up pending)",
    ]),
  );
  return ["Leftover DNS-01 records (clean-up retried until it succeeds):", ...table.split("\n").map((l) => `  ${l}`)].join("\n");
}

/** The invalid documents and unknown fields of the last manifests pass, by file. */
export function manifestProblemsText(dir: string, problems: readonly ManifestProblemView[]): string {
  if (problems.length === 0) return "";
  const lines = [`Manifest problems in ${dir}:`];
  for (const p of problems) lines.push(`  ${p.outcome === "warning" ? "warning" : "not applied"}: ${p.document}: ${p.problem}`);
  return lines.join("\n");
}

/** The detail view of one Certificate. */
export function certificateDetail(d: CertificateDescriptionView, now: number): string {
  const lines: string[] = [];
  const field = (label: string, value: string | number | undefined, indent = "") => {
    if (value !== undefined && value !== "") lines.push(`${indent}${`${label}:`.padEnd(20 - indent.length)} ${value}`);
  };
  field("Name", d.name);
  field("Namespace", d.namespace);
  field("Created", d.creationTimestamp === undefined ? undefined : `${d.creationTimestamp} (${age(d.creationTimestamp, now)} ago)`);
  field("Ready", `${d.ready}${effectiveReason(d) === "" ? "" : ` (${effectiveReason(d)})`}`);
  field("Issuer", d.issuer);
  field("Secret", d.secretName);
  lines.push("Conditions:");
  const conds = d.conditions ?? [];
  if (conds.length === 0) lines.push("  No Conditions set");
  for (const c of conds) lines.push(conditionLine(c, now));
  field("Not Before", d.notBefore);
  field("Not After", d.notAfter === undefined ? undefined : `${d.notAfter} (${relative(d.notAfter, now)})`);
  field("Renewal Time", d.renewalTime === undefined ? undefined : `${d.renewalTime} (${relative(d.renewalTime, now)})`);
  field("Next Check", d.nextCheck === undefined ? undefined : `${d.nextCheck} (${relative(d.nextCheck, now)})`);
  field("Revision", d.revision);
  field("Failed Attempts", d.failedIssuanceAttempts);
  field("Last Failure", d.lastFailureTime);
  if (d.lastRequest === undefined) {
    lines.push("CertificateRequest:  none");
  } else {
    lines.push("CertificateRequest:");
    field("Name", d.lastRequest.name, "  ");
    field("Revision", d.lastRequest.revision, "  ");
    field("Failure Time", d.lastRequest.failureTime, "  ");
    lines.push("  Conditions:");
    const rc = d.lastRequest.conditions ?? [];
    if (rc.length === 0) lines.push("    No Conditions set");
    for (const c of rc) lines.push(`  ${conditionLine(c, now)}`);
  }
  if (d.order !== undefined) {
    lines.push("Order:");
    field("Name", d.order.name, "  ");
    field("State", d.order.state, "  ");
    field("Reason", d.order.reason, "  ");
    field("URL", d.order.url, "  ");
    const challenges = d.challenges ?? [];
    lines.push(challenges.length === 0 ? "  Challenges:       none" : "  Challenges:");
    for (const c of challenges) lines.push(`    - ${challengeLine(c)}`);
    const leftovers = challenges.flatMap((c) => (c.leftover === undefined ? [] : [c.leftover]));
    if (leftovers.length > 0) {
      lines.push("  Leftover DNS-01 records:");
      for (const r of leftovers) {
        const since = r.since === undefined ? "" : `, since ${age(r.since, now)} ago`;
        lines.push(`    - ${r.fqdn} (${r.provider ?? "dns01"}${since}): ${r.lastError ?? "clean-up pending"}`);
      }
    }
  }
  const events = d.events ?? [];
  if (events.length === 0) {
    lines.push("Events:              none");
  } else {
    lines.push("Events:");
    const table = renderTable(
      ["TYPE", "REASON", "AGE", "OBJECT", "MESSAGE"],
      events.map((e) => [e.type, e.reason, `${age(e.lastTimestamp, now)}${e.count > 1 ? ` (x${e.count})` : ""}`, e.object, e.message]),
    );
    lines.push(...table.split("\n").map((l) => `  ${l}`));
  }
  return lines.join("\n");
}

/** `<name>: <type>, <name validated>, <solver>, <state>, presented|not presented, <reason>`, leaving out what is unknown. */
export function challengeLine(c: ChallengeLineView): string {
  const dnsName = c.dnsName === undefined ? undefined : c.wildcard === true ? `*.${c.dnsName}` : c.dnsName;
  const presented = c.presented === undefined ? undefined : c.presented ? "presented" : "not presented";
  const parts = [c.type, dnsName, c.solver, c.state, presented, c.reason].filter((x) => x !== undefined && x !== "");
  return `${c.name}: ${parts.join(", ")}`;
}

function conditionLine(c: ConditionView, now: number): string {
  const since = c.lastTransitionTime === undefined ? "" : `, since ${age(c.lastTransitionTime, now)} ago`;
  return `  ${c.type}: ${c.status}${c.reason ? ` (${c.reason})` : ""}${since}${c.message ? `: ${c.message}` : ""}`;
}

function age(ts: string | undefined, now: number): string {
  const t = ts === undefined ? Number.NaN : Date.parse(ts);
  return Number.isNaN(t) ? "" : humanDuration(now - t);
}

/** "in 89d" or "3h ago". */
function relative(ts: string, now: number): string {
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return "?";
  return t >= now ? `in ${humanDuration(t - now)}` : `${humanDuration(now - t)} ago`;
}
