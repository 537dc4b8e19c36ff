import { humanDuration } from "./human-duration.js";
import { type ChallengeLineView, challengeLine } from "./status-views.js";

/**
 * What `meshsign inspect order ns/name` prints in text mode, as a pure
 * function of the admin API's answer and the time, laid out like
 * `meshsign status ns/name` (and `kubectl describe order`). JSON and YAML
 * print the answer itself.
 */
export interface OrderDetailView {
  readonly namespace: string;
  readonly name: string;
  readonly state?: string;
  readonly reason?: string;
  readonly url?: string;
  readonly creationTimestamp?: string;
  readonly request?: string;
  readonly issuer?: string;
  readonly commonName?: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly profile?: string;
  readonly replaces?: string;
  readonly failureTime?: string;
  readonly hasCertificate?: boolean;
  readonly authorizations?: readonly {
    readonly identifier?: string;
    readonly wildcard?: boolean;
    readonly initialState?: string;
    readonly challengeTypes?: readonly string[];
  }[];
  readonly challenges?: readonly ChallengeLineView[];
}

export function orderDetail(o: OrderDetailView, now: number): string {
  const lines: string[] = [];
  const field = (label: string, value: string | undefined, indent = "") => {
    if (value !== undefined && value !== "")
      lines.push(`${indent}${`${label}:`.padEnd(20 - indent.length)} ${value}`);
  };
  field("Name", o.name);
  field("Namespace", o.namespace);
  field(
    "Created",
    o.creationTimestamp === undefined
      ? undefined
      : `${o.creationTimestamp} (${age(o.creationTimestamp, now)} ago)`,
  );
  field("State", o.state ?? "(not yet sent to the CA)");
  field("Reason", o.reason);
  field("Failure Time", o.failureTime);
  field("Issuer", o.issuer);
  field("Request", o.request);
  field("URL", o.url);
  field("Common Name", o.commonName);
  field("DNS Names", (o.dnsNames ?? []).join(", "));
  field("IP Addresses", (o.ipAddresses ?? []).join(", "));
  field("Profile", o.profile);
  field("Replaces", o.replaces);
  field("Certificate", o.hasCertificate === true ? "downloaded" : undefined);
  const authorizations = o.authorizations ?? [];
  lines.push(authorizations.length === 0 ? "Authorizations:      none yet" : "Authorizations:");
  for (const a of authorizations) {
    const name = a.identifier === undefined ? "?" : a.wildcard === true ? `*.${a.identifier}` : a.identifier;
    const offered = (a.challengeTypes ?? []).join("/");
    const parts = [a.initialState, offered === "" ? undefined : `offers ${offered}`].filter(
      (x) => x !== undefined,
    );
    lines.push(`  - ${name}${parts.length === 0 ? "" : `: ${parts.join(", ")}`}`);
  }
  const challenges = o.challenges ?? [];
  lines.push(challenges.length === 0 ? "Challenges:          none" : "Challenges:");
  for (const c of challenges) lines.push(`  - ${challengeLine(c)}`);
  return lines.join("\n");
}

function age(ts: string, now: number): string {
  const t = Date.parse(ts);
  return Number.isNaN(t) ? "" : humanDuration(now - t);
}
