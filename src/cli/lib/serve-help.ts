import { formatGoDuration } from "../../api/duration.js";
import { formatLabelSelector, type LabelSelector } from "../../api/label-selector.js";
import { envName, type OPTIONS } from "../../server/config.js";

type OptionSpec = (typeof OPTIONS)[number];

/**
 * The help text of one `serve` option: what it does, its default (per mode
 * when the mode decides it), the values it allows and its `MESHSIGN_*`
 * variable, e.g. "log format (one of: json, text; default: json; env
 * MESHSIGN_LOG_FORMAT)". Read from the option table, so it cannot drift
 * from what the config loader does.
 */
export function serveOptionHelp(o: OptionSpec): string {
  const notes: string[] = [];
  if (typeof o.kind === "object") notes.push(`one of: ${o.kind.enum.join(", ")}`);
  else if (o.kind === "duration") notes.push("a duration");
  else if (o.kind === "list") notes.push("comma-separated; a repeated flag adds to the list");
  else if (o.kind === "bool") notes.push("true or false; the flag alone means true");
  else if (o.kind === "labelSelector") notes.push("a Kubernetes label selector: k=v, k!=v, k in (a,b), k notin (a,b), k, !k, k>n, k<n; commas join");
  const dflt = defaultText(o);
  // Some descriptions already say their default in words ("(default: <data-dir>/root-cert.pem)");
  // "from the default issuer" is not such a statement, so only a "(default" or "; default" counts.
  if (dflt !== undefined && !/[(;] ?default\b/.test(o.description)) notes.push(`default: ${dflt}`);
  notes.push(`env ${envName(o)}`);
  return `${o.description} (${notes.join("; ")})`;
}

/**
 * How commander reads one occurrence of the option: a bool flag alone means true, and a list flag
 * given again adds to the list (`--csr-key-types rsa --csr-key-types ed25519`), as istio-csr's
 * string-slice flags do, instead of the last occurrence silently replacing the others.
 */
export function serveOptionParser(o: OptionSpec): (value: string | undefined, previous: unknown) => unknown {
  return (value, previous) => {
    if (o.kind === "bool" && value === undefined) return true;
    if (o.kind === "list" && typeof previous === "string" && value !== undefined) return `${previous},${value}`;
    return value;
  };
}

/** Placeholder of the option's value in the usage line. */
export function serveOptionArgument(o: OptionSpec): string {
  if (typeof o.kind === "object") return `<${o.kind.enum.length <= 3 ? o.kind.enum.join("|") : "value"}>`;
  switch (o.kind) {
    case "bool":
      return "[bool]";
    case "duration":
      return "<duration>";
    case "int":
      return "<n>";
    case "list":
      return "<list>";
    case "labelSelector":
      return "<selector>";
    default:
      return o.flag.endsWith("-address") ? "<host:port>" : o.flag.endsWith("-file") || o.flag.endsWith("-dir") || o.flag === "--manifests" || o.flag === "--kubeconfig" ? "<path>" : "<value>";
  }
}

/** The text after the options: how values are written and which source wins. */
export const SERVE_HELP_AFTER = `
Durations are Go durations: a number and a unit, units combined, e.g. 300ms, 90s, 30m, 1h30m, 2160h.
Every option can also be given as its MESHSIGN_* environment variable or as its camelCase key in
the --config YAML file (e.g. maxClientCertificateDuration: 48h); a flag wins over the variable,
which wins over the file.`;

function defaultText(o: OptionSpec): string | undefined {
  if (typeof o.default !== "function") return show(o, o.default);
  const f = o.default as (mode: "standalone" | "kubernetes") => unknown;
  const standalone = show(o, f("standalone"));
  const kubernetes = show(o, f("kubernetes"));
  if (standalone === kubernetes) return standalone;
  return `${standalone ?? "none"} standalone, ${kubernetes ?? "none"} kubernetes`;
}

function show(o: OptionSpec, v: unknown): string | undefined {
  if (v === "" || (Array.isArray(v) && v.length === 0)) return undefined;
  // Go prints 1h0m0s; a person writes 1h.
  if (o.kind === "duration" && typeof v === "number") return formatGoDuration(v).replace(/([hm])0m0s$/, "$1").replace(/([hm])0s$/, "$1");
  if (Array.isArray(v)) return v.join(",");
  if (o.kind === "labelSelector") return formatLabelSelector(v as LabelSelector) || undefined;
  return String(v);
}
