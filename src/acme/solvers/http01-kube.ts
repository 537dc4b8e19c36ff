/**
 * HTTP-01 in Kubernetes mode without solver Pods: for a Challenge whose
 * solver is `http01.ingress` or `http01.gatewayHTTPRoute`, route
 * `/.well-known/acme-challenge/<token>` for the challenge's host to meshsign's
 * own Service (its solver listener answers for every Challenge in the store),
 * and take the route away again.
 *
 * - `ingress` with `ingressClassName`, `class` or neither: a new Ingress,
 *   owned by the Challenge (so Kubernetes deletes it with the Challenge too).
 * - `ingress.name`: the user's Ingress is edited in place (the path added
 *   first on the rule for the host); removal takes out exactly that path, and
 *   the rule when it was the rule's last path, restoring the Ingress.
 * - `gatewayHTTPRoute`: an HTTPRoute with the solver's `parentRefs` and
 *   `labels`, owned by the Challenge. Its backendRef names meshsign's Service
 *   in meshsign's namespace, which the Gateway API allows only with a
 *   ReferenceGrant there (see docs/acme.md).
 *
 * An Ingress can only name a Service of its own namespace: when the Challenge
 * lives elsewhere than meshsign, an ExternalName Service in the Challenge's
 * namespace, owned by the Challenge, points at meshsign's.
 *
 * Objects carry cert-manager's solver labels and are named after the
 * Challenge's uid, so both calls are idempotent and safe to repeat after a
 * crash: `ensure` creates what is missing and updates what differs from the
 * wanted shape (fields the API server defaults are not differences),
 * `remove` deletes what exists. Conflicting writes are retried on a fresh read.
 */
import type { Challenge } from "../../api/types.js";
import { HTTP_ROUTES, INGRESSES, SERVICES } from "../../api/types.js";
import { isMeshsignError, MeshsignError } from "../../errors/index.js";
import type { KubeObject, ResourceType, Store } from "../../store/types.js";
import { isSubset } from "../lib/subset.js";
import {
  type Backend,
  buildBridgeService,
  buildHttpRoute,
  buildIngress,
  type Ingress,
  solverObjectName,
  withChallengePath,
  withoutChallengePath,
} from "./lib/http01-objects.js";

/** cert-manager's solver port, and meshsign's default `--acme-http01-solver-address` port. */
export const DEFAULT_HTTP01_SOLVER_PORT = 8089;
export const DEFAULT_CLUSTER_DOMAIN = "cluster.local";
const MAX_CONFLICT_RETRIES = 5;

export interface Http01RouteParams {
  /** The Challenge as stored (name, namespace and uid set), with an `http01` solver. */
  readonly challenge: Challenge;
  /** meshsign's Service in front of its solver listener. */
  readonly service: {
    readonly name: string;
    readonly namespace: string;
    /** Default {@link DEFAULT_HTTP01_SOLVER_PORT}. */
    readonly port?: number;
  };
  /** For the ExternalName bridge's target. Default {@link DEFAULT_CLUSTER_DOMAIN}. */
  readonly clusterDomain?: string;
}

/** The object that routes the challenge. */
export interface Http01Route {
  readonly kind: "Ingress" | "HTTPRoute";
  readonly namespace: string;
  readonly name: string;
  /** True when a user's Ingress was edited rather than an object created. */
  readonly edited: boolean;
}

type Mode = "ingress" | "ingress-edit" | "httproute";

/** Creates or updates the Ingress or HTTPRoute (and bridge Service) for the challenge. */
export async function ensureHttp01Route(store: Store, params: Http01RouteParams): Promise<Http01Route> {
  const { challenge, mode, target } = validate(params);
  const namespace = challenge.metadata.namespace ?? "";
  if (mode === "httproute") {
    const route = buildHttpRoute(challenge, target);
    await ensureOwned(store, HTTP_ROUTES, route, challenge);
    return { kind: "HTTPRoute", namespace, name: route.metadata.name ?? "", edited: false };
  }
  const backend = await ensureBackend(store, params, challenge, target);
  if (mode === "ingress") {
    const ingress = buildIngress(challenge, backend);
    await ensureOwned(store, INGRESSES, ingress, challenge);
    return { kind: "Ingress", namespace, name: ingress.metadata.name ?? "", edited: false };
  }
  const name = challenge.spec.solver.http01?.ingress?.name ?? "";
  await editIngress(store, namespace, name, (ing) => withChallengePath(ing, challenge, backend), true);
  return { kind: "Ingress", namespace, name, edited: true };
}

/** Removes what {@link ensureHttp01Route} made, restoring an edited Ingress. Missing objects are fine. */
export async function removeHttp01Route(store: Store, params: Http01RouteParams): Promise<void> {
  const { challenge, mode } = validate(params);
  const namespace = challenge.metadata.namespace ?? "";
  if (mode === "httproute") {
    await deleteOwned(store, HTTP_ROUTES, challenge);
    return;
  }
  if (mode === "ingress") await deleteOwned(store, INGRESSES, challenge);
  else {
    const name = challenge.spec.solver.http01?.ingress?.name ?? "";
    await editIngress(store, namespace, name, (ing) => withoutChallengePath(ing, challenge), false);
  }
  await deleteOwned(store, SERVICES, challenge);
}

function validate(params: Http01RouteParams): { challenge: Challenge; mode: Mode; target: Backend } {
  const { challenge, service } = params;
  const { name, namespace, uid } = challenge.metadata;
  if (!name || !namespace || !uid) {
    throw new MeshsignError(
      "ERR_RESOURCE_INVALID",
      "HTTP-01 route: the Challenge must be stored (name, namespace, uid)",
    );
  }
  const port = service.port ?? DEFAULT_HTTP01_SOLVER_PORT;
  if (!service.name || !service.namespace || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      `HTTP-01 route: meshsign's Service must have a name, a namespace and a port 1-65535 (got ${service.namespace}/${service.name}:${port})`,
    );
  }
  const http01 = challenge.spec.solver.http01;
  const where = `Challenge ${namespace}/${name}`;
  let mode: Mode;
  if (http01?.gatewayHTTPRoute !== undefined) {
    if ((http01.gatewayHTTPRoute.parentRefs ?? []).length === 0) {
      throw new MeshsignError(
        "ERR_RESOURCE_INVALID",
        `${where}: http01.gatewayHTTPRoute needs at least one parentRef`,
      );
    }
    mode = "httproute";
  } else if (http01?.ingress !== undefined) {
    mode = http01.ingress.name === undefined ? "ingress" : "ingress-edit";
  } else {
    throw new MeshsignError(
      "ERR_RESOURCE_INVALID",
      `${where}: the solver is not http01.ingress or http01.gatewayHTTPRoute`,
    );
  }
  return { challenge, mode, target: { name: service.name, namespace: service.namespace, port } };
}

/** The Service an Ingress in the Challenge's namespace can name: meshsign's, or a bridge to it. */
async function ensureBackend(
  store: Store,
  params: Http01RouteParams,
  challenge: Challenge,
  target: Backend,
): Promise<Backend> {
  const namespace = challenge.metadata.namespace ?? "";
  if (namespace === target.namespace) return target;
  const bridge = buildBridgeService(challenge, target, params.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN);
  await ensureOwned(store, SERVICES, bridge, challenge);
  return { name: bridge.metadata.name ?? "", namespace, port: target.port };
}

/** Creates `want`, or brings the stored object to it (labels, annotations and spec; nothing else touched). */
async function ensureOwned<T extends KubeObject & { spec?: unknown }>(
  store: Store,
  type: ResourceType,
  want: T,
  challenge: Challenge,
): Promise<void> {
  const { namespace, name } = want.metadata;
  for (let attempt = 0; ; attempt++) {
    const have = await store.get<T>(type, namespace, name ?? "");
    if (have === undefined) {
      try {
        await store.create(type, want);
        return;
      } catch (err) {
        if (isMeshsignError(err, "ERR_ALREADY_EXISTS") && attempt < MAX_CONFLICT_RETRIES) continue;
        throw err;
      }
    }
    if (!ownedBy(have, challenge)) {
      throw new MeshsignError(
        "ERR_CONFLICT",
        `${type.kind} ${namespace}/${name} exists and is not owned by Challenge ${challenge.metadata.namespace}/${challenge.metadata.name}`,
      );
    }
    const upToDate =
      isSubset(want.metadata.labels, have.metadata.labels) &&
      isSubset(want.metadata.annotations, have.metadata.annotations) &&
      isSubset(want.spec, have.spec);
    if (upToDate) return;
    const next: T = {
      ...have,
      metadata: {
        ...have.metadata,
        labels: { ...have.metadata.labels, ...want.metadata.labels },
        annotations: { ...have.metadata.annotations, ...want.metadata.annotations },
      },
      spec: want.spec,
    };
    try {
      await store.update(type, next);
      return;
    } catch (err) {
      if (isMeshsignError(err, "ERR_CONFLICT", "ERR_NOT_FOUND") && attempt < MAX_CONFLICT_RETRIES) continue;
      throw err;
    }
  }
}

/**
 * Deletes the object named for this Challenge when the Challenge controls it.
 * By name only (no list), so the RBAC needs get and delete, not list.
 */
async function deleteOwned(store: Store, type: ResourceType, challenge: Challenge): Promise<void> {
  const namespace = challenge.metadata.namespace ?? "";
  const name = solverObjectName(challenge);
  const obj = await store.get(type, namespace, name);
  if (obj === undefined || !ownedBy(obj, challenge)) return;
  try {
    await store.delete(type, namespace, name);
  } catch (err) {
    if (!isMeshsignError(err, "ERR_NOT_FOUND")) throw err;
  }
}

function ownedBy(obj: KubeObject, challenge: Challenge): boolean {
  return (obj.metadata.ownerReferences ?? []).some(
    (r) => r.controller === true && r.uid === challenge.metadata.uid,
  );
}

/** Applies `edit` to the named Ingress until it sticks; `undefined` from `edit` means nothing to change. */
async function editIngress(
  store: Store,
  namespace: string,
  name: string,
  edit: (ingress: Ingress) => Ingress | undefined,
  mustExist: boolean,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const ingress = await store.get<Ingress>(INGRESSES, namespace, name);
    if (ingress === undefined) {
      if (!mustExist) return;
      throw new MeshsignError(
        "ERR_NOT_FOUND",
        `Ingress ${namespace}/${name} named by the solver's http01.ingress.name does not exist`,
        { retry: "transient" },
      );
    }
    const next = edit(ingress);
    if (next === undefined) return;
    try {
      await store.update(INGRESSES, next);
      return;
    } catch (err) {
      if (isMeshsignError(err, "ERR_CONFLICT") && attempt < MAX_CONFLICT_RETRIES) continue;
      if (isMeshsignError(err, "ERR_NOT_FOUND") && !mustExist) return;
      throw err;
    }
  }
}
