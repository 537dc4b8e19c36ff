/**
 * The ACME directory (RFC 8555 §7.1.1): the URLs of every other resource,
 * and `meta` (terms of service, EAB requirement, the profiles the server
 * offers — draft-ietf-acme-profiles).
 */
import { MeshsignError } from "../errors/index.js";
import { readJson } from "./lib/json.js";
import type { Transport } from "./transport.js";

export interface AcmeDirectory {
  readonly newNonce: string;
  readonly newAccount: string;
  readonly newOrder: string;
  readonly revokeCert?: string;
  readonly keyChange?: string;
  /** RFC 9773 (ARI). */
  readonly renewalInfo?: string;
  readonly meta: {
    readonly termsOfService?: string;
    readonly website?: string;
    readonly externalAccountRequired: boolean;
    /** Profile name -> the server's description of it. */
    readonly profiles: Readonly<Record<string, string>>;
  };
}

function url(v: unknown, name: string, base: string): string {
  if (typeof v !== "string")
    throw new MeshsignError("ERR_ACME_PROTOCOL", `ACME directory ${base} has no ${name} URL`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new MeshsignError("ERR_ACME_PROTOCOL", `ACME directory ${base}: ${name} is not a URL`);
  }
  if (u.protocol !== "https:")
    throw new MeshsignError("ERR_ACME_PROTOCOL", `ACME directory ${base}: ${name} is not https`);
  return u.toString();
}

/** Fetches and validates the directory at `directoryUrl`. */
export async function fetchDirectory(transport: Transport, directoryUrl: string): Promise<AcmeDirectory> {
  const res = await transport("GET", directoryUrl, undefined, "application/json");
  if (res.status !== 200)
    throw new MeshsignError(
      "ERR_ACME_UNAVAILABLE",
      `ACME directory ${directoryUrl} answered HTTP ${res.status}`,
      {
        retry: res.status >= 500 || res.status === 429 ? "transient" : "terminal",
      },
    );
  const d = readJson(res.body, `ACME directory ${directoryUrl}`) as Record<string, unknown>;
  const opt = (k: string): Record<string, string> =>
    d[k] === undefined ? {} : { [k]: url(d[k], k, directoryUrl) };
  const meta = typeof d.meta === "object" && d.meta !== null ? (d.meta as Record<string, unknown>) : {};
  const profiles: Record<string, string> = {};
  if (typeof meta.profiles === "object" && meta.profiles !== null) {
    for (const [name, description] of Object.entries(meta.profiles as Record<string, unknown>)) {
      profiles[name] = typeof description === "string" ? description : "";
    }
  }
  return {
    newNonce: url(d.newNonce, "newNonce", directoryUrl),
    newAccount: url(d.newAccount, "newAccount", directoryUrl),
    newOrder: url(d.newOrder, "newOrder", directoryUrl),
    ...opt("revokeCert"),
    ...opt("keyChange"),
    ...opt("renewalInfo"),
    meta: {
      ...(typeof meta.termsOfService === "string" ? { termsOfService: meta.termsOfService } : {}),
      ...(typeof meta.website === "string" ? { website: meta.website } : {}),
      externalAccountRequired: meta.externalAccountRequired === true,
      profiles,
    },
  };
}
