/**
 * ACME orders (RFC 8555 §7.4): creation with identifiers, an optional
 * `notAfter`, profile (draft-ietf-acme-profiles) and `replaces` (RFC 9773 §5), reading,
 * and waiting for a state. A profile the directory does not offer is refused
 * here, before an order exists, as a terminal configuration error (cert-manager
 * errors such an Order without retrying).
 */
import { isIP } from "node:net";
import { MeshsignError } from "../errors/index.js";
import type { AcmeClient } from "./client.js";
import { readJson } from "./lib/json.js";
import { pollUntil } from "./lib/poll.js";
import { type AcmeIdentifier, type AcmeProblem, parseProblem } from "./problems.js";

export type OrderStatus = "pending" | "ready" | "processing" | "valid" | "invalid";

export interface AcmeOrder {
  readonly url: string;
  readonly status: OrderStatus;
  readonly identifiers: readonly AcmeIdentifier[];
  readonly authorizations: readonly string[];
  readonly finalize: string;
  readonly certificate?: string;
  readonly expires?: string;
  readonly profile?: string;
  readonly replaces?: string;
  /** Why the order is invalid, as the CA said. */
  readonly error?: AcmeProblem;
}

export interface NewOrderOptions {
  readonly identifiers: readonly AcmeIdentifier[];
  /** An ACME profile name the directory offers. */
  readonly profile?: string;
  /** The ARI certID of the certificate this order renews. */
  readonly replaces?: string;
  /**
   * The certificate's requested end (RFC 8555 §7.4 `notAfter`; cert-manager's
   * `enableDurationFeature`). Sent to the second, as Go's RFC 3339.
   */
  readonly notAfter?: Date;
}

const STATUSES: readonly OrderStatus[] = ["pending", "ready", "processing", "valid", "invalid"];
const MAX_IDENTIFIERS = 100;

function httpsUrl(v: unknown, what: string): string {
  if (typeof v !== "string") throw new MeshsignError("ERR_ACME_PROTOCOL", `ACME order has no ${what}`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    // Not the TypeError itself: it would reach the Order as "internal error", the CA's fault lost.
    throw new MeshsignError("ERR_ACME_PROTOCOL", `ACME order ${what} is not a URL`);
  }
  if (u.protocol !== "https:")
    throw new MeshsignError("ERR_ACME_PROTOCOL", `ACME order ${what} is not https`);
  return u.toString();
}

/** Reads an order object; `url` is where it lives. */
export function orderFrom(body: Record<string, unknown>, url: string): AcmeOrder {
  const status = body.status as OrderStatus;
  if (!STATUSES.includes(status))
    throw new MeshsignError("ERR_ACME_PROTOCOL", "ACME order has no valid status");
  const identifiers = Array.isArray(body.identifiers)
    ? body.identifiers.flatMap((i): AcmeIdentifier[] => {
        const { type, value } = (i ?? {}) as Record<string, unknown>;
        return (type === "dns" || type === "ip") && typeof value === "string" ? [{ type, value }] : [];
      })
    : [];
  const authorizations = Array.isArray(body.authorizations)
    ? body.authorizations.map((a) => httpsUrl(a, "authorization URL"))
    : [];
  const error = parseProblem(body.error);
  return {
    url,
    status,
    identifiers,
    authorizations,
    finalize: httpsUrl(body.finalize, "finalize URL"),
    ...(body.certificate === undefined ? {} : { certificate: httpsUrl(body.certificate, "certificate URL") }),
    ...(typeof body.expires === "string" ? { expires: body.expires } : {}),
    ...(typeof body.profile === "string" ? { profile: body.profile } : {}),
    ...(typeof body.replaces === "string" ? { replaces: body.replaces } : {}),
    ...(error === undefined ? {} : { error }),
  };
}

/**
 * The identifiers of a request as cert-manager builds them: every DNS name
 * (lower-cased), every IP address, and the common name when it is an FQDN
 * or an IP; duplicates removed.
 */
export function orderIdentifiers(request: {
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly commonName?: string;
}): AcmeIdentifier[] {
  const out = new Map<string, AcmeIdentifier>();
  const add = (id: AcmeIdentifier): void => {
    out.set(`${id.type}:${id.value}`, id);
  };
  for (const d of request.dnsNames ?? []) add({ type: "dns", value: d.toLowerCase() });
  for (const ip of request.ipAddresses ?? []) add({ type: "ip", value: ip });
  const cn = request.commonName;
  if (cn !== undefined && cn !== "") {
    if (isIP(cn) !== 0) add({ type: "ip", value: cn });
    else if (cn.includes(".")) add({ type: "dns", value: cn.toLowerCase() });
  }
  return [...out.values()];
}

/** Creates an order; the client must have an account. */
export async function newOrder(client: AcmeClient, options: NewOrderOptions): Promise<AcmeOrder> {
  if (options.identifiers.length === 0 || options.identifiers.length > MAX_IDENTIFIERS)
    throw new MeshsignError(
      "ERR_RESOURCE_INVALID",
      `an ACME order needs 1 to ${MAX_IDENTIFIERS} identifiers`,
    );
  const payload: Record<string, unknown> = {
    identifiers: options.identifiers.map((i) => ({ type: i.type, value: i.value })),
  };
  if (options.profile !== undefined) {
    const offered = Object.keys(client.directory.meta.profiles);
    if (!offered.includes(options.profile))
      throw new MeshsignError(
        "ERR_CONFIG_INVALID",
        offered.length === 0
          ? `the ACME server offers no profiles, so profile ${JSON.stringify(options.profile)} cannot be requested`
          : `the ACME server does not offer profile ${JSON.stringify(options.profile)} (it offers ${offered.join(", ")})`,
      );
    payload.profile = options.profile;
  }
  if (options.replaces !== undefined) payload.replaces = options.replaces;
  if (options.notAfter !== undefined)
    payload.notAfter = options.notAfter.toISOString().replace(/\.\d{3}Z$/, "Z");
  const res = await client.post(client.directory.newOrder, payload, "newOrder");
  if (res.location === undefined)
    throw new MeshsignError("ERR_ACME_PROTOCOL", "newOrder answered without a Location");
  return orderFrom(readJson(res.body, "ACME newOrder"), res.location);
}

/** Reads an order (POST-as-GET). */
export async function getOrder(client: AcmeClient, url: string): Promise<AcmeOrder> {
  const { body } = await client.fetchJson(url, "order");
  return orderFrom(body, url);
}

/** Polls `url` until the order is in one of `statuses` or invalid; times out at `deadlineMs`. */
export function waitOrder(
  client: AcmeClient,
  url: string,
  statuses: readonly OrderStatus[],
  deadlineMs: number,
): Promise<AcmeOrder> {
  return pollUntil(
    client,
    url,
    "order",
    (body) => orderFrom(body, url),
    (o) => o.status === "invalid" || statuses.includes(o.status),
    deadlineMs,
  );
}
