/**
 * Read-only views of ACME Orders and their Challenges for the admin API
 * (`meshsign status ns/name`, `meshsign inspect order ns/name`): what state
 * each is in, which solver serves each challenge, whether it is presented,
 * and why it is stuck. Found through ownerReferences as cert-manager links
 * them (CertificateRequest -> Order -> Challenge). Never returns the key
 * authorization or the issued chain, only whether there is one.
 *
 * Also the DNS-01 records left behind (`meshsign status`): a presented TXT
 * value whose Challenge is final or being deleted, until its clean-up
 * succeeds (a value kept for a sibling still being validated, or one whose
 * clean-up failed and is being retried).
 */
import type { AcmeSolver, Challenge, Order } from "../api/types.js";
import { CHALLENGES, ORDERS } from "../api/types.js";
import { MeshsignError } from "../errors/index.js";
import type { KubeObject, Store } from "../store/types.js";

export interface ChallengeView {
  readonly name: string;
  readonly type: string;
  readonly dnsName: string;
  readonly wildcard: boolean;
  /** e.g. `http01.ingress (class nginx)`, `http01.gatewayHTTPRoute`, `dns01.rfc2136`. */
  readonly solver: string;
  readonly state?: string;
  readonly presented?: boolean;
  readonly processing?: boolean;
  readonly reason?: string;
  /** Set while this Challenge's DNS-01 value outlives its final state or deletion. */
  readonly leftover?: LeftoverDns01RecordView;
}

/** One DNS-01 TXT value still at the provider after its Challenge is final or deleted. */
export interface LeftoverDns01RecordView {
  readonly namespace: string;
  readonly challenge: string;
  /** The Order that owns the Challenge. */
  readonly order?: string;
  /** The authorization's name, `*.` for a wildcard. */
  readonly dnsName: string;
  /** The TXT record name (after CNAME following), e.g. `_acme-challenge.example.com.` */
  readonly fqdn: string;
  /** e.g. `dns01.rfc2136`. */
  readonly provider: string;
  /** Since when the value outlives the Challenge (RFC 3339). */
  readonly since?: string;
  /** Why the last clean-up failed; absent while none has failed (a value kept for its sibling). */
  readonly lastError?: string;
  readonly state?: string;
  /** The Challenge is deleted and waits on its finalizer for the clean-up. */
  readonly deleting: boolean;
}

/** The summary `meshsign status ns/name` shows under the Certificate's request. */
export interface OrderSummaryView {
  readonly name: string;
  readonly state?: string;
  readonly reason?: string;
  readonly url?: string;
}

export interface OrderView extends OrderSummaryView {
  readonly namespace: string;
  readonly creationTimestamp?: string;
  readonly request?: string;
  readonly issuer: string;
  readonly commonName?: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly profile?: string;
  readonly replaces?: string;
  readonly failureTime?: string;
  readonly hasCertificate: boolean;
  readonly authorizations: readonly {
    readonly identifier?: string;
    readonly wildcard: boolean;
    readonly initialState?: string;
    readonly challengeTypes: readonly string[];
  }[];
  readonly challenges: readonly ChallengeView[];
}

/** The newest Order of a CertificateRequest and its Challenges, or undefined when the request has none. */
export async function orderOfRequest(
  store: Store,
  namespace: string,
  requestName: string,
): Promise<{ order: OrderSummaryView; challenges: ChallengeView[] } | undefined> {
  const orders = (await store.list<Order>(ORDERS, { namespace }))
    .filter((o) => ownedBy(o, "CertificateRequest", requestName))
    .sort((a, b) => (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? ""));
  const order = orders[0];
  if (order === undefined) return undefined;
  return { order: summary(order), challenges: await challengesOf(store, order) };
}

/** One Order in detail, for `meshsign inspect order ns/name`. */
export async function inspectOrder(store: Store, namespace: string, name: string): Promise<OrderView> {
  const order = await store.get<Order>(ORDERS, namespace, name);
  if (order === undefined) throw new MeshsignError("ERR_NOT_FOUND", `Order ${namespace}/${name} not found`);
  const { spec, status = {} } = order;
  const request = order.metadata.ownerReferences?.find((r) => r.kind === "CertificateRequest")?.name;
  return {
    ...summary(order),
    namespace,
    ...optional("creationTimestamp", order.metadata.creationTimestamp),
    ...optional("request", request),
    issuer: `${spec.issuerRef.kind ?? "Issuer"}/${spec.issuerRef.name}`,
    ...optional("commonName", spec.commonName),
    dnsNames: spec.dnsNames ?? [],
    ipAddresses: spec.ipAddresses ?? [],
    ...optional("profile", spec.profile),
    ...optional("replaces", spec.replaces),
    ...optional("failureTime", status.failureTime),
    hasCertificate: (status.certificate ?? "") !== "",
    authorizations: (status.authorizations ?? []).map((a) => ({
      ...optional("identifier", a.identifier),
      wildcard: a.wildcard ?? false,
      ...optional("initialState", a.initialState),
      challengeTypes: (a.challenges ?? []).map((c) => c.type),
    })),
    challenges: await challengesOf(store, order),
  };
}

/**
 * The DNS-01 values left behind, oldest first: every presented value whose
 * Challenge is final or being deleted. Empty once each clean-up succeeded.
 */
export async function listLeftoverDns01Records(
  store: Store,
  namespace?: string,
): Promise<LeftoverDns01RecordView[]> {
  const challenges = await store.list<Challenge>(CHALLENGES, namespace === undefined ? {} : { namespace });
  return challenges
    .map(leftoverOf)
    .filter((r): r is LeftoverDns01RecordView => r !== undefined)
    .sort(
      (a, b) =>
        (a.since ?? "").localeCompare(b.since ?? "") ||
        `${a.namespace}/${a.challenge}`.localeCompare(`${b.namespace}/${b.challenge}`),
    );
}

const FINAL = new Set(["valid", "invalid", "expired", "errored"]);

function leftoverOf(c: Challenge): LeftoverDns01RecordView | undefined {
  const status = c.status ?? {};
  const deleting = c.metadata.deletionTimestamp !== undefined;
  if (c.spec.type !== "DNS-01" || status.presented !== true) return undefined;
  if (!deleting && (status.state === undefined || !FINAL.has(status.state))) return undefined;
  const order = c.metadata.ownerReferences?.find((r) => r.kind === "Order")?.name;
  return {
    namespace: c.metadata.namespace ?? "",
    challenge: c.metadata.name ?? "",
    ...optional("order", order),
    dnsName: c.spec.wildcard === true ? `*.${c.spec.dnsName}` : c.spec.dnsName,
    fqdn: status.dns01Fqdn ?? `_acme-challenge.${c.spec.dnsName}.`,
    provider: describeSolver(c.spec.solver),
    ...optional("since", status.cleanUpSince ?? c.metadata.deletionTimestamp),
    ...optional("lastError", status.cleanUpError),
    ...optional("state", status.state),
    deleting,
  };
}

/** How a solver is named in the views: its type and kind, and what tells two apart. */
export function describeSolver(solver: AcmeSolver): string {
  const ingress = solver.http01?.ingress;
  if (ingress !== undefined) {
    const detail =
      ingress.name !== undefined
        ? `edits Ingress ${ingress.name}`
        : ingress.ingressClassName !== undefined
          ? `class ${ingress.ingressClassName}`
          : ingress.class !== undefined
            ? `class ${ingress.class}`
            : undefined;
    return detail === undefined ? "http01.ingress" : `http01.ingress (${detail})`;
  }
  const route = solver.http01?.gatewayHTTPRoute;
  if (route !== undefined) {
    const parents = (route.parentRefs ?? []).map((p) => (p.namespace ? `${p.namespace}/${p.name}` : p.name));
    return parents.length === 0
      ? "http01.gatewayHTTPRoute"
      : `http01.gatewayHTTPRoute (${parents.join(", ")})`;
  }
  const dns01 = solver.dns01;
  if (dns01 !== undefined) {
    const provider = Object.keys(dns01).find((k) => k !== "cnameStrategy" && k !== "nameservers");
    return provider === undefined ? "dns01" : `dns01.${provider}`;
  }
  return "unknown";
}

function summary(order: Order): OrderSummaryView {
  const status = order.status ?? {};
  return {
    name: order.metadata.name ?? "",
    ...optional("state", status.state),
    ...optional("reason", status.reason),
    ...optional("url", status.url),
  };
}

async function challengesOf(store: Store, order: Order): Promise<ChallengeView[]> {
  const namespace = order.metadata.namespace ?? "";
  const challenges = await store.list<Challenge>(CHALLENGES, { namespace });
  return challenges
    .filter((c) => ownedBy(c, "Order", order.metadata.name ?? "", order.metadata.uid))
    .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""))
    .map((c) => {
      const status = c.status ?? {};
      const leftover = leftoverOf(c);
      return {
        name: c.metadata.name ?? "",
        type: c.spec.type,
        dnsName: c.spec.dnsName,
        wildcard: c.spec.wildcard ?? false,
        solver: describeSolver(c.spec.solver),
        ...optional("state", status.state),
        ...optional("presented", status.presented),
        ...optional("processing", status.processing),
        ...optional("reason", status.reason),
        ...(leftover !== undefined ? { leftover } : {}),
      };
    });
}

function ownedBy(obj: KubeObject, kind: string, name: string, uid?: string): boolean {
  return (obj.metadata.ownerReferences ?? []).some(
    (r) => r.kind === kind && r.name === name && (uid === undefined || r.uid === uid),
  );
}

/** `{ key: value }` when value is set, else `{}`: the views carry no undefined fields. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined || value === "" ? {} : { [key]: value }) as { [P in K]?: V };
}
