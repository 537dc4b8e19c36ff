/**
 * Choosing the Route53 hosted zone for a record name: the public zone whose
 * name is the longest suffix of the name. Private zones are skipped, as
 * cert-manager does: the ACME server validates from the internet, so only a
 * public zone's records can answer it.
 */

/** A hosted zone as ListHostedZonesByName reports it. */
export interface HostedZoneSummary {
  /** `/hostedzone/Z123` or `Z123`. */
  readonly id: string;
  /** Zone name with a trailing dot, as Route53 returns it. */
  readonly name: string;
  readonly privateZone: boolean;
}

/** The bare zone id (Route53 answers `/hostedzone/Z123`; the API takes `Z123` too). */
export function bareZoneId(id: string): string {
  return id.startsWith("/hostedzone/") ? id.slice("/hostedzone/".length) : id;
}

/** Lower-cased, with exactly one trailing dot, octal escapes (`\052` for `*`) decoded. */
export function canonicalName(name: string): string {
  const decoded = name.replace(/\\(\d{3})/g, (_, oct: string) =>
    String.fromCharCode(Number.parseInt(oct, 8)),
  );
  const lower = decoded.toLowerCase();
  return lower.endsWith(".") ? lower : `${lower}.`;
}

/** True when `zone` is `fqdn` or one of its parent domains (label-wise, not string-wise). */
function isSuffix(fqdn: string, zone: string): boolean {
  return fqdn === zone || fqdn.endsWith(`.${zone}`);
}

/**
 * The public zone whose name is the longest suffix of `fqdn`, or undefined.
 * Among several public zones of one name the first listed wins.
 */
export function pickHostedZone(
  fqdn: string,
  zones: readonly HostedZoneSummary[],
): HostedZoneSummary | undefined {
  const name = canonicalName(fqdn);
  let best: HostedZoneSummary | undefined;
  let bestLength = -1;
  for (const zone of zones) {
    if (zone.privateZone) continue;
    const zoneName = canonicalName(zone.name);
    if (!isSuffix(name, zoneName)) continue;
    if (zoneName.length > bestLength) {
      best = zone;
      bestLength = zoneName.length;
    }
  }
  return best;
}
