/**
 * Pure builders of the Kubernetes objects that route one HTTP-01 challenge to
 * meshsign's solver listener, in the shape cert-manager's HTTP-01 solver gives
 * them (pkg/issuer/acme/http: ingress.go, httproute.go, pod.go's labels), and
 * the edit of a user's Ingress that adds or removes the challenge path.
 */
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import type { Challenge } from "../../../api/types.js";
import type { KubeObject, OwnerReference } from "../../../store/types.js";
import { adler32 } from "../../lib/adler32.js";
import { CHALLENGE_PATH_PREFIX } from "../http01.js";

export const SOLVER_LABEL = "acme.cert-manager.io/http01-solver";
export const DOMAIN_LABEL = "acme.cert-manager.io/http-domain";
export const TOKEN_LABEL = "acme.cert-manager.io/http-token";
/** Set by cert-manager on every solver Ingress so nginx's allow-lists never block the CA. */
export const NGINX_WHITELIST_ANNOTATION = "nginx.ingress.kubernetes.io/whitelist-source-range";
export const INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class";
export const NAME_PREFIX = "cm-acme-http-solver-";

export interface IngressPath {
  path?: string;
  pathType?: string;
  backend?: { service?: { name?: string; port?: { number?: number; name?: string } } } & Record<
    string,
    unknown
  >;
}
export interface IngressRule {
  host?: string;
  http?: { paths: IngressPath[] };
}
export interface Ingress extends KubeObject {
  spec?: { ingressClassName?: string; rules?: IngressRule[] } & Record<string, unknown>;
}
export interface HttpRoute extends KubeObject {
  spec?: Record<string, unknown>;
}
export interface Service extends KubeObject {
  spec?: Record<string, unknown>;
}

/** Where the challenge's traffic must go: meshsign's Service (or its bridge in the Challenge's namespace). */
export interface Backend {
  readonly name: string;
  readonly namespace: string;
  readonly port: number;
}

/** cert-manager's solver labels: decimal Adler-32 of the domain and token, so they fit a label value. */
export function solverLabels(challenge: Challenge): Record<string, string> {
  return {
    [DOMAIN_LABEL]: String(adler32(challenge.spec.dnsName)),
    [TOKEN_LABEL]: String(adler32(challenge.spec.token)),
    [SOLVER_LABEL]: "true",
  };
}

/** One name per Challenge (its uid), so a create repeated after a crash finds the first one. */
export function solverObjectName(challenge: Challenge): string {
  const uid = challenge.metadata.uid ?? "";
  return NAME_PREFIX + createHash("sha256").update(uid).digest("hex").slice(0, 10);
}

export function challengePath(challenge: Challenge): string {
  return CHALLENGE_PATH_PREFIX + challenge.spec.token;
}

/** The rule's host: the challenge's name, or none for an IP address (the CA connects to the IP). */
function hostOf(challenge: Challenge): string | undefined {
  return isIP(challenge.spec.dnsName) === 0 ? challenge.spec.dnsName : undefined;
}

export function ownerReference(challenge: Challenge): OwnerReference {
  return {
    apiVersion: challenge.apiVersion,
    kind: challenge.kind,
    name: challenge.metadata.name ?? "",
    uid: challenge.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function ingressPath(challenge: Challenge, backend: Backend): IngressPath {
  return {
    path: challengePath(challenge),
    pathType: "ImplementationSpecific",
    backend: { service: { name: backend.name, port: { number: backend.port } } },
  };
}

interface IngressTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
}

/** A new Ingress for `http01.ingress` with `ingressClassName` or `class` (or neither: the default class). */
export function buildIngress(challenge: Challenge, backend: Backend): Ingress {
  const cfg = challenge.spec.solver.http01?.ingress ?? {};
  const template = (cfg.ingressTemplate ?? {}) as IngressTemplate;
  const annotations: Record<string, string> = { [NGINX_WHITELIST_ANNOTATION]: "0.0.0.0/0,::/0" };
  if (cfg.class !== undefined) annotations[INGRESS_CLASS_ANNOTATION] = cfg.class;
  for (const [k, v] of Object.entries(template.metadata?.annotations ?? {})) {
    // A template that sets any *whitelist-source-range replaces cert-manager's default one.
    if (k.slice(k.lastIndexOf("/") + 1) === "whitelist-source-range")
      delete annotations[NGINX_WHITELIST_ANNOTATION];
    annotations[k] = v;
  }
  const host = hostOf(challenge);
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: {
      name: solverObjectName(challenge),
      namespace: challenge.metadata.namespace ?? "",
      labels: { ...solverLabels(challenge), ...(template.metadata?.labels ?? {}) },
      annotations,
      ownerReferences: [ownerReference(challenge)],
    },
    spec: {
      ...(cfg.ingressClassName === undefined ? {} : { ingressClassName: cfg.ingressClassName }),
      rules: [
        { ...(host === undefined ? {} : { host }), http: { paths: [ingressPath(challenge, backend)] } },
      ],
    },
  };
}

/** An HTTPRoute for `http01.gatewayHTTPRoute`: the solver's parentRefs and labels, an Exact path match. */
export function buildHttpRoute(challenge: Challenge, backend: Backend): HttpRoute {
  const cfg = challenge.spec.solver.http01?.gatewayHTTPRoute ?? {};
  const host = hostOf(challenge);
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: {
      name: solverObjectName(challenge),
      namespace: challenge.metadata.namespace ?? "",
      labels: { ...solverLabels(challenge), ...(cfg.labels ?? {}) },
      ownerReferences: [ownerReference(challenge)],
    },
    spec: {
      parentRefs: cfg.parentRefs ?? [],
      ...(host === undefined ? {} : { hostnames: [host] }),
      rules: [
        {
          matches: [{ path: { type: "Exact", value: challengePath(challenge) } }],
          backendRefs: [
            {
              group: "",
              kind: "Service",
              name: backend.name,
              namespace: backend.namespace,
              port: backend.port,
              weight: 1,
            },
          ],
        },
      ],
    },
  };
}

/**
 * An ExternalName Service in the Challenge's namespace that points at
 * meshsign's Service: an Ingress can only name a Service of its own namespace.
 */
export function buildBridgeService(challenge: Challenge, target: Backend, clusterDomain: string): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: solverObjectName(challenge),
      namespace: challenge.metadata.namespace ?? "",
      labels: solverLabels(challenge),
      ownerReferences: [ownerReference(challenge)],
    },
    spec: {
      type: "ExternalName",
      externalName: `${target.name}.${target.namespace}.svc.${clusterDomain}`,
      ports: [{ name: "http", protocol: "TCP", port: target.port, targetPort: target.port }],
    },
  };
}

/**
 * The user's Ingress with the challenge path first on the rule for the
 * challenge's host (a rule added when there is none), or undefined when it is
 * already there with this backend. As cert-manager: a path with the same URL
 * but another backend is replaced, the path goes first so no broader path of
 * the user's shadows it.
 */
export function withChallengePath(
  ingress: Ingress,
  challenge: Challenge,
  backend: Backend,
): Ingress | undefined {
  const want = ingressPath(challenge, backend);
  const host = hostOf(challenge);
  const rules = structuredClone(ingress.spec?.rules ?? []);
  const rule = rules.find((r) => r.host === host);
  if (rule === undefined) {
    rules.push({ ...(host === undefined ? {} : { host }), http: { paths: [want] } });
  } else {
    rule.http ??= { paths: [] };
    const i = rule.http.paths.findIndex((p) => p.path === want.path);
    const existing = rule.http.paths[i];
    if (existing !== undefined) {
      const svc = existing.backend?.service;
      if (svc?.name === backend.name && svc.port?.number === backend.port) return undefined;
      rule.http.paths[i] = want;
    } else {
      rule.http.paths.unshift(want);
    }
  }
  return { ...ingress, spec: { ...ingress.spec, rules } };
}

/**
 * The user's Ingress without the challenge path, and without the rule for the
 * challenge's host when that path was its last one (a rule without paths is
 * one this solver added); undefined when there is nothing to remove.
 */
export function withoutChallengePath(ingress: Ingress, challenge: Challenge): Ingress | undefined {
  const path = challengePath(challenge);
  const host = hostOf(challenge);
  let changed = false;
  const rules: IngressRule[] = [];
  for (const rule of ingress.spec?.rules ?? []) {
    if (rule.host !== host || rule.http === undefined) {
      rules.push(rule);
      continue;
    }
    const paths = rule.http.paths.filter((p) => p.path !== path);
    if (paths.length === rule.http.paths.length) {
      rules.push(rule);
      continue;
    }
    changed = true;
    if (paths.length > 0) rules.push({ ...rule, http: { ...rule.http, paths } });
  }
  return changed ? { ...ingress, spec: { ...ingress.spec, rules } } : undefined;
}
