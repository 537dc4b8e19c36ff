import { createServer, isIP } from "node:net";
import { MeshsignError } from "../errors/index.js";
import { type Config, envName, OPTIONS } from "./config.js";

/**
 * Before `serve` creates anything (data dir, CA, store), each port it will
 * listen on is bound once and released, so a busy port fails the start with
 * the flag to change, and a first run that fails leaves no half-made data
 * dir behind. A port taken in the instant between this check and the real
 * listen still fails the start (with the address), only without the flag.
 */
export async function checkListenAddresses(config: Config): Promise<void> {
  const wanted: { key: keyof Config; host: string; port: number }[] = [
    { key: "servingAddress", ...splitHostPort(config.servingAddress) },
    { key: "readinessProbePort", host: "0.0.0.0", port: config.readinessProbePort },
    { key: "metricsPort", host: "0.0.0.0", port: config.metricsPort },
    { key: "adminAddress", ...splitHostPort(config.adminAddress) },
    ...(config.bundleEndpointAddress ? [{ key: "bundleEndpointAddress" as const, ...splitHostPort(config.bundleEndpointAddress) }] : []),
  ];
  // Opened later (once an ACME issuer exists), so not bound here; but it must not share a port either.
  const later = config.acmeHttp01SolverAddress ? [{ key: "acmeHttp01SolverAddress" as const, ...splitHostPort(config.acmeHttp01SolverAddress) }] : [];
  // Two of meshsign's own listeners on one port: each binds alone above, so only this catches it
  // (otherwise the second listen fails half-way through start-up, blaming "another program").
  const shared = sharedPorts([...wanted, ...later]);
  if (shared.length > 0) throw new MeshsignError("ERR_CONFIG_INVALID", `cannot listen:\n  ${shared.join("\n  ")}`);
  const problems: string[] = [];
  for (const w of wanted) {
    if (w.port === 0) continue; // any free port: nothing to collide with
    const code = await tryBind(w.host, w.port);
    if (code === undefined) continue;
    const flag = flagOf(w.key);
    const where = `${w.host}:${w.port}`;
    problems.push(
      code === "EADDRINUSE"
        ? `${where} is already in use (another meshsign, or another program): stop it or choose another port with ${flag}`
        : code === "EACCES"
          ? `${where}: not allowed to listen there (ports below 1024 need privileges): choose another port with ${flag}`
          : code === "EADDRNOTAVAIL" || code === "ENOTFOUND"
            ? `${where}: this machine has no such address: choose another with ${flag}`
            : `${where}: cannot listen (${code}): check ${flag}`,
    );
  }
  if (problems.length > 0) throw new MeshsignError("ERR_CONFIG_INVALID", `cannot listen:\n  ${problems.join("\n  ")}`);
}

/** "--a (MESHSIGN_A)" of an option key. */
function flagOf(key: keyof Config): string {
  const option = OPTIONS.find((o) => o.key === key);
  return option === undefined ? key : `${option.flag} (${envName(option)})`;
}

/** Each pair of listeners that would take the same port (a wildcard host overlaps every host of its family). */
function sharedPorts(listeners: readonly { key: keyof Config; host: string; port: number }[]): string[] {
  const problems: string[] = [];
  listeners.forEach((a, i) => {
    for (const b of listeners.slice(i + 1)) {
      if (a.port === 0 || a.port !== b.port || !hostsOverlap(a.host, b.host)) continue;
      problems.push(`${flagOf(a.key)} and ${flagOf(b.key)} both want port ${a.port} (${a.host}, ${b.host}): give each listener its own port`);
    }
  });
  return problems;
}

function hostsOverlap(a: string, b: string): boolean {
  if (a === b || a === "::" || b === "::") return true;
  // 0.0.0.0 takes the port on every IPv4 address (and names such as localhost), not on IPv6 literals.
  if (a === "0.0.0.0") return isIP(b) !== 6;
  if (b === "0.0.0.0") return isIP(a) !== 6;
  return false;
}

function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i).replace(/^\[(.*)\]$/, "$1") || "0.0.0.0", port: Number(address.slice(i + 1)) };
}

/** Binds and releases; the error code when that fails. */
function tryBind(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    // exclusive: a cluster primary would otherwise share a handle instead of testing the port.
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
