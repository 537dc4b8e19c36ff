/**
 * The names a Cloudflare zone for a record may have, most specific first:
 * `_acme-challenge.www.example.com.` gives `_acme-challenge.www.example.com`,
 * `www.example.com`, `example.com` (never a bare TLD). The provider asks
 * Cloudflare for each in turn, as cert-manager does, so the nearest zone wins.
 */
export function zoneNameCandidates(fqdn: string): string[] {
  const labels = fqdn
    .toLowerCase()
    .replace(/\.$/, "")
    .split(".")
    .filter((l) => l !== "");
  const out: string[] = [];
  for (let i = 0; i <= labels.length - 2; i++) out.push(labels.slice(i).join("."));
  return out;
}
