import { MeshsignError } from "../../../../errors/index.js";
import type { Dns01Record } from "../provider.js";

/** A DNS name of letters, digits, `-` and `_` labels (1-63 each), as the ACME layer hands it over. */
const FQDN = /^(?=.{1,254}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)+$/;
/** A DNS-01 value is base64url of a SHA-256 digest; anything else would break out of the quoted TXT string. */
const TXT_VALUE = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * Refuses a record that is not a DNS-01 record before a provider sends it to an API
 * (Route53, Cloudflare) that would take any name or TXT content it is given.
 */
export function checkApiRecord(record: Dns01Record): void {
  const fqdn = record.fqdn.endsWith(".") ? record.fqdn : `${record.fqdn}.`;
  if (!FQDN.test(fqdn) || !TXT_VALUE.test(record.value)) {
    throw new MeshsignError("ERR_DNS01_REFUSED", `not a DNS-01 record: name ${JSON.stringify(record.fqdn)}`, {
      retry: "terminal",
    });
  }
}
