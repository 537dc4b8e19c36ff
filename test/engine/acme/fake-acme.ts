/**
 * An in-memory ACME server behind the client's Transport seam, for the
 * Order and Challenge state machines in `npm test` (no network, no Pebble):
 * directory, nonces, accounts, orders, authorizations with one http-01 and
 * one dns-01 challenge each (a wildcard's: dns-01 only), finalize (a leaf signed by a throw-away root
 * from the CSR) and download. Switches make it refuse a name at validation
 * (an invalid authorization with a `connection` problem), go down (every
 * request fails as an unreachable server does), offer ARI in its directory
 * and refuse every order that carries `replaces` with a given problem, or every new order as
 * rate limited with a Retry-After. It does not verify JWS
 * signatures: the client's JWS is tested against Pebble.
 */
import type { Transport } from "../../../src/acme/index.js";
import { MeshsignError } from "../../../src/errors/index.js";
import type { CertificateTemplate } from "../../../src/pki/index.js";
import {
  encodePem,
  NameOid,
  parseCsrDer,
  publicKeySpki,
  selfSignedSigner,
  signCertificate,
  signerFromCertificate,
} from "../../../src/pki/index.js";
import { keyPairSync } from "../../lib/key-pair.js";

const BASE = "https://acme.test";

interface Authz {
  url: string;
  name: string;
  status: "pending" | "valid" | "invalid" | "deactivated";
  token: string;
  problem?: { type: string; detail: string };
}
interface FakeOrder {
  url: string;
  status: "pending" | "ready" | "processing" | "valid" | "invalid";
  names: string[];
  authz: string[];
  cert?: string;
  profile?: string;
}

export class FakeAcme {
  readonly directoryUrl = `${BASE}/directory`;
  /** Requests by kind, e.g. newOrder, newAccount, finalize. */
  readonly counts = new Map<string, number>();
  /** Names whose validation fails (the VA cannot connect). */
  readonly refuse = new Set<string>();
  /** Names whose authorization is deactivated right after it is first read (as an account owner may). */
  readonly deactivateAfterRead = new Set<string>();
  /** Answer finalize orderNotReady until the order has been read since it became ready (a lazy CA). */
  readyOnlyOnceRead = false;
  /**
   * A VA that validates an HTTP-01 accept later instead of at once: the accept answers
   * "pending", and `delayMs` after it the key authorization is fetched through `fetch` (as the
   * CA's VA fetches it from the solver) and the authorization becomes valid when it matches.
   */
  va: { delayMs: number; fetch: (token: string, host: string) => string | undefined } | undefined;
  /** While true every request fails as an unreachable server does. */
  down = false;
  /** Name `renewalInfo` in the directory (RFC 9773), so renewals carry `replaces`. */
  offerAri = false;
  /** Refuse every newOrder with 429 rateLimited and this Retry-After (seconds, or an HTTP date). */
  rateLimitOrders: string | undefined;
  /** Refuse every authorization read and challenge accept with 429 rateLimited and this Retry-After (seconds). */
  rateLimitChallenges: string | undefined;
  /** Refuse a newOrder that carries `replaces` with this status and problem (e.g. 409 alreadyReplaced). */
  refuseReplaces: { status: number; type: string; detail: string } | undefined;
  /** A DNS name the CA adds to every certificate it issues (as some commercial CAs add `www.`). */
  extraName: string | undefined;
  /** Issue certificates valid from this long after finalize (a CA whose clock is ahead), not a minute before. */
  notBeforeAheadMs: number | undefined;
  /** The `replaces` of every newOrder received, in order (undefined: none). */
  readonly orderReplaces: (string | undefined)[] = [];
  /** The ARI suggested window (ms since the epoch) instead of one a month away. */
  renewalWindow: [number, number] | undefined;
  /** The Retry-After (seconds) of renewalInfo answers. */
  renewalInfoRetryAfter: string | undefined;
  /** The key usages and extended key usages of the leaves it issues, instead of digitalSignature and serverAuth. */
  leafUsages: Pick<CertificateTemplate, "keyUsage" | "extKeyUsage"> | undefined;
  /** Served after the leaf instead of the CA's root (a chain that does not link). */
  chainTail: string | undefined;
  /** The `notAfter` of every newOrder received, in order (undefined: none). */
  readonly orderNotAfter: (string | undefined)[] = [];
  readonly rootPem: string;
  readonly #orders = new Map<string, FakeOrder>();
  readonly #readReady = new Set<string>();
  readonly #authz = new Map<string, Authz>();
  readonly #signer;
  #nonce = 0;
  #seq = 0;
  #accounts = 0;

  constructor() {
    const { privateKey } = keyPairSync("ec", { namedCurve: "P-256" });
    const now = Date.now();
    const template: CertificateTemplate = {
      publicKeySpki: publicKeySpki(privateKey),
      subject: [[{ type: NameOid.commonName, value: "Fake ACME Root" }]],
      isCA: true,
      keyUsage: ["keyCertSign", "cRLSign"],
      extKeyUsage: [],
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(now + 365 * 86_400_000),
    };
    const rootDer = signCertificate(template, selfSignedSigner(template, privateKey));
    this.rootPem = encodePem("CERTIFICATE", rootDer);
    this.#signer = signerFromCertificate(rootDer, privateKey);
  }

  #count(kind: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  readonly transport: Transport = async (method, url, body) => {
    if (this.down)
      throw new MeshsignError("ERR_ACME_UNAVAILABLE", "ACME server acme.test unreachable: ECONNREFUSED", {
        retry: "transient",
      });
    const nonce = { "replay-nonce": `n${++this.#nonce}` };
    if (method === "GET" && url === this.directoryUrl) {
      return json(200, {
        newNonce: `${BASE}/nonce`,
        newAccount: `${BASE}/account`,
        newOrder: `${BASE}/order`,
        ...(this.offerAri ? { renewalInfo: `${BASE}/renewal-info` } : {}),
        meta: { profiles: { default: "90 days" } },
      });
    }
    if (method === "GET" && url.startsWith(`${BASE}/renewal-info/`)) {
      // A window a month away unless told otherwise: renewals here are asked for, never suggested.
      const now = Date.now();
      this.#count("renewalInfo");
      const [start, end] = this.renewalWindow ?? [now + 30 * 86_400_000, now + 31 * 86_400_000];
      return json(
        200,
        { suggestedWindow: { start: new Date(start).toISOString(), end: new Date(end).toISOString() } },
        this.renewalInfoRetryAfter === undefined ? {} : { "retry-after": this.renewalInfoRetryAfter },
      );
    }
    if (method === "HEAD") return { status: 200, headers: nonce, body: Buffer.alloc(0) };
    if (method === "GET" && url === `${BASE}/nonce`)
      return { status: 204, headers: nonce, body: Buffer.alloc(0) };
    const jws = JSON.parse(body?.data ?? "{}") as { payload: string };
    const payload =
      jws.payload === ""
        ? undefined
        : (JSON.parse(Buffer.from(jws.payload, "base64url").toString()) as Record<string, unknown>);
    const path = new URL(url).pathname;
    if (path === "/account") {
      this.#count("newAccount");
      this.#accounts = 1;
      return json(
        201,
        { status: "valid", contact: payload?.contact ?? [] },
        { ...nonce, location: `${BASE}/account/1` },
      );
    }
    if (path === "/account/1") return json(200, { status: "valid", contact: payload?.contact ?? [] }, nonce);
    if (this.#accounts === 0)
      return json(
        400,
        { type: "urn:ietf:params:acme:error:accountDoesNotExist", detail: "no account" },
        nonce,
      );
    if (path === "/order") {
      this.#count("newOrder");
      const replaces = typeof payload?.replaces === "string" ? payload.replaces : undefined;
      this.orderReplaces.push(replaces);
      this.orderNotAfter.push(typeof payload?.notAfter === "string" ? payload.notAfter : undefined);
      if (this.rateLimitOrders !== undefined) {
        return json(
          429,
          {
            type: "urn:ietf:params:acme:error:rateLimited",
            detail: "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s",
          },
          { ...nonce, "retry-after": this.rateLimitOrders },
        );
      }
      if (replaces !== undefined && this.refuseReplaces !== undefined) {
        const { status, type, detail } = this.refuseReplaces;
        return json(status, { type, detail }, nonce);
      }
      const n = ++this.#seq;
      const ids = ((payload?.identifiers ?? []) as { value: string }[]).map((i) => i.value);
      const order: FakeOrder = { url: `${BASE}/order/${n}`, status: "pending", names: ids, authz: [] };
      ids.forEach((name, i) => {
        const a: Authz = {
          url: `${BASE}/authz/${n}-${i}`,
          name,
          status: "pending",
          token: `token${n}x${i}`.padEnd(43, "A"),
        };
        this.#authz.set(a.url, a);
        order.authz.push(a.url);
      });
      this.#orders.set(order.url, order);
      return json(201, this.#orderBody(order), { ...nonce, location: order.url });
    }
    const order = this.#orders.get(url);
    if (order !== undefined) {
      this.#count("order");
      if (order.status === "ready") this.#readReady.add(order.url);
      return json(200, this.#orderBody(order), nonce);
    }
    if (this.rateLimitChallenges !== undefined && (this.#authz.has(url) || path.startsWith("/chall/"))) {
      this.#count(this.#authz.has(url) ? "authorization" : "accept");
      return json(
        429,
        { type: "urn:ietf:params:acme:error:rateLimited", detail: "too many failed authorizations recently" },
        { ...nonce, "retry-after": this.rateLimitChallenges },
      );
    }
    const authz = this.#authz.get(url);
    if (authz !== undefined) {
      this.#count("authorization");
      const body = this.#authzBody(authz);
      if (this.deactivateAfterRead.delete(authz.name)) authz.status = "deactivated";
      return json(200, body, nonce);
    }
    if (path.startsWith("/chall/")) {
      this.#count("accept");
      const a = this.#authz.get(`${BASE}/authz/${path.slice("/chall/".length).replace(/-(http|dns)$/, "")}`);
      if (a === undefined)
        return json(
          404,
          { type: "urn:ietf:params:acme:error:malformed", detail: "no such challenge" },
          nonce,
        );
      if (a.status === "deactivated")
        return json(
          403,
          { type: "urn:ietf:params:acme:error:unauthorized", detail: `the authorization is ${a.status}` },
          nonce,
        );
      const va = this.va;
      if (va !== undefined && !this.refuse.has(a.name)) {
        setTimeout(() => {
          const key = va.fetch(a.token, a.name);
          if (key?.startsWith(`${a.token}.`)) a.status = "valid";
          else {
            a.status = "invalid";
            a.problem = { type: "urn:ietf:params:acme:error:unauthorized", detail: `wrong key authorization (${a.name})` };
          }
          for (const o of this.#orders.values()) this.#settle(o);
        }, va.delayMs);
        return json(200, { type: "http-01", url, status: "pending", token: a.token }, nonce);
      }
      if (this.refuse.has(a.name)) {
        a.status = "invalid";
        a.problem = {
          type: "urn:ietf:params:acme:error:connection",
          detail: `dial tcp 192.0.2.1:80: connection refused (${a.name})`,
        };
      } else a.status = "valid";
      for (const o of this.#orders.values()) this.#settle(o);
      return json(
        200,
        { type: "http-01", url, status: a.status === "valid" ? "valid" : "invalid", token: a.token },
        nonce,
      );
    }
    if (path.startsWith("/finalize/")) {
      this.#count("finalize");
      const o = this.#orders.get(`${BASE}/order/${path.slice("/finalize/".length)}`);
      if (o === undefined || o.status !== "ready" || (this.readyOnlyOnceRead && !this.#readReady.has(o.url)))
        return json(403, { type: "urn:ietf:params:acme:error:orderNotReady", detail: "not ready" }, nonce);
      const csr = parseCsrDer(Buffer.from(payload?.csr as string, "base64url"));
      const now = Date.now();
      const leaf = signCertificate(
        {
          publicKeySpki: csr.publicKeySpki,
          subject: [],
          dnsNames: [...csr.dnsNames, ...(this.extraName === undefined ? [] : [this.extraName])],
          isCA: false,
          keyUsage: ["digitalSignature"],
          extKeyUsage: ["serverAuth"],
          ...this.leafUsages,
          notBefore: new Date(now + (this.notBeforeAheadMs ?? -60_000)),
          notAfter: new Date(now + 90 * 86_400_000),
        },
        this.#signer,
      );
      o.cert = encodePem("CERTIFICATE", leaf) + (this.chainTail ?? this.rootPem);
      o.status = "valid";
      return json(200, this.#orderBody(o), nonce);
    }
    if (path.startsWith("/cert/")) {
      const o = this.#orders.get(`${BASE}/order/${path.slice("/cert/".length)}`);
      return {
        status: 200,
        headers: { ...nonce, "content-type": "application/pem-certificate-chain" },
        body: Buffer.from(o?.cert ?? ""),
      };
    }
    return json(404, { type: "urn:ietf:params:acme:error:malformed", detail: `no resource ${path}` }, nonce);
  };

  #settle(o: FakeOrder): void {
    if (o.status !== "pending") return;
    const states = o.authz.map((u) => this.#authz.get(u)?.status);
    if (states.includes("invalid") || states.includes("deactivated")) o.status = "invalid";
    else if (states.every((s) => s === "valid")) o.status = "ready";
  }

  #orderBody(o: FakeOrder): Record<string, unknown> {
    const id = o.url.slice(`${BASE}/order/`.length);
    return {
      status: o.status,
      identifiers: o.names.map((value) => ({ type: "dns", value })),
      authorizations: o.authz,
      finalize: `${BASE}/finalize/${id}`,
      ...(o.cert !== undefined ? { certificate: `${BASE}/cert/${id}` } : {}),
    };
  }

  #authzBody(a: Authz): Record<string, unknown> {
    const id = a.url.slice(`${BASE}/authz/`.length);
    const chall = (type: string, suffix: string) => ({
      type,
      url: `${BASE}/chall/${id}-${suffix}`,
      token: a.token,
      status: a.status === "pending" ? "pending" : a.status,
      ...(a.problem !== undefined && type === "http-01" ? { error: a.problem } : {}),
    });
    // RFC 8555 7.1.4: a wildcard's authorization names the base domain and says `wildcard`, and offers dns-01 only.
    const wildcard = a.name.startsWith("*.");
    return {
      status: a.status,
      identifier: { type: "dns", value: wildcard ? a.name.slice(2) : a.name },
      ...(wildcard ? { wildcard: true } : {}),
      challenges: wildcard ? [chall("dns-01", "dns")] : [chall("http-01", "http"), chall("dns-01", "dns")],
    };
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return {
    status,
    headers: { "content-type": status >= 400 ? "application/problem+json" : "application/json", ...headers },
    body: Buffer.from(JSON.stringify(body)),
  };
}
