/**
 * Finalizing an order with the CSR (RFC 8555 §7.4) and downloading the
 * certificate chain, choosing among the default chain and the alternates the
 * CA links with `Link: <url>;rel="alternate"` (§7.4.2) by `preferredChain`:
 * as cert-manager, the chain whose top certificate's issuer CN equals it,
 * else the default chain. The chain is returned as the CA sent it; the
 * caller checks it (src/acme/verify-issued.ts) before using it.
 */
import { MeshsignError } from "../errors/index.js";
import { decodePemAll, NameOid, parseCertificate } from "../pki/index.js";
import type { AcmeClient } from "./client.js";
import { readJson } from "./lib/json.js";
import { type AcmeOrder, getOrder, orderFrom, waitOrder } from "./order.js";
import { describeProblem, problemOf, shortType } from "./problems.js";

const PEM_CHAIN = "application/pem-certificate-chain";

/**
 * Sends the CSR (DER) and waits until the order is valid (or says why not).
 * Safe to repeat after a crash: an order already processing or valid is
 * waited for, never finalized twice, and a `orderNotReady` refusal whose
 * order has moved on (the answer to an earlier finalize was lost) is read
 * through.
 */
export async function finalizeOrder(
  client: AcmeClient,
  order: AcmeOrder,
  csrDer: Uint8Array,
  deadlineMs: number,
): Promise<AcmeOrder> {
  let current: AcmeOrder;
  if (order.status === "processing" || order.status === "valid") {
    // Finalized before (a restart after the CSR was sent): never send a second CSR, wait for the first.
    current = order;
  } else if (order.status === "ready") {
    try {
      const res = await client.post(
        order.finalize,
        { csr: Buffer.from(csrDer).toString("base64url") },
        "finalize",
      );
      current = orderFrom(readJson(res.body, "ACME finalize"), order.url);
    } catch (err) {
      // orderNotReady after a lost answer to an earlier finalize: the order has moved on; read it.
      if (shortType(problemOf(err)?.type ?? "") !== "orderNotReady") throw err;
      current = await getOrder(client, order.url);
      if (current.status !== "processing" && current.status !== "valid") throw err;
    }
  } else if (order.status === "pending") {
    throw new MeshsignError(
      "ERR_ACME_PROTOCOL",
      "cannot finalize an order that is still pending: not every authorization is valid",
      {
        retry: "transient",
        detail: { url: order.url },
      },
    );
  } else {
    current = order;
  }
  if (current.status === "processing") current = await waitOrder(client, order.url, ["valid"], deadlineMs);
  if (current.status !== "valid" || current.certificate === undefined) {
    // The whole problem: a CAA recheck at issuance names each failing identifier in a subproblem.
    const why =
      current.error === undefined ? `the order is ${current.status}` : describeProblem(current.error);
    throw new MeshsignError("ERR_ACME_ORDER_INVALID", `ACME server did not issue the certificate: ${why}`, {
      detail: { url: order.url, ...(current.error === undefined ? {} : { problem: current.error }) },
    });
  }
  return current;
}

export interface DownloadedChain {
  /** Leaf first, as the CA sent it. */
  readonly pem: string;
  /** The URL it came from (the order's certificate URL or an alternate). */
  readonly url: string;
  /** How many alternate chains the CA offered. */
  readonly alternates: number;
}

/** `Link` header values with rel="alternate", resolved against `base`. */
function alternateLinks(link: string | string[] | undefined, base: string): string[] {
  const values = link === undefined ? [] : Array.isArray(link) ? link : [link];
  const out: string[] = [];
  for (const v of values) {
    // Node joins repeated Link headers with ", "; a URL in <> never holds ">".
    for (const m of v.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
      if (!/;\s*rel\s*=\s*"?alternate"?/i.test(m[2] ?? "")) continue;
      try {
        out.push(new URL(m[1] as string, base).toString());
      } catch {
        // One the CA wrote wrong is skipped: the default chain and the other alternates stay usable.
      }
    }
  }
  return out;
}

function topIssuerCommonName(pem: string): string | undefined {
  const ders = decodePemAll(pem, "CERTIFICATE");
  const top = ders[ders.length - 1];
  if (top === undefined) return undefined;
  const issuer = parseCertificate(top).issuer;
  return issuer.flat().find((a) => a.type === NameOid.commonName)?.value;
}

/** Downloads the certificate chain, choosing the one whose top issuer CN is `preferredChain`. */
export async function downloadCertificate(
  client: AcmeClient,
  certificateUrl: string,
  preferredChain?: string,
): Promise<DownloadedChain> {
  const fetchChain = async (url: string) => {
    const res = await client.post(url, undefined, "certificate download", { accept: PEM_CHAIN });
    const pem = res.body.toString("utf8");
    if (decodePemAll(pem, "CERTIFICATE", "ERR_CHAIN_INVALID").length === 0)
      throw new MeshsignError("ERR_CHAIN_INVALID", "ACME server returned no certificate");
    return { pem, links: alternateLinks(res.headers.link, url) };
  };
  const first = await fetchChain(certificateUrl);
  const alternates = first.links.length;
  if (
    preferredChain === undefined ||
    preferredChain === "" ||
    topIssuerCommonName(first.pem) === preferredChain
  )
    return { pem: first.pem, url: certificateUrl, alternates };
  for (const url of first.links) {
    const alt = await fetchChain(url);
    if (topIssuerCommonName(alt.pem) === preferredChain) return { pem: alt.pem, url, alternates };
  }
  return { pem: first.pem, url: certificateUrl, alternates };
}
