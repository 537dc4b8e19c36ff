/**
 * The Certificates an annotated source asks for, computed without I/O: what
 * cert-manager's ingress-shim and gateway-shim build
 * (`pkg/controller/certificate-shim/sync.go`), plus Istio Gateways.
 *
 * - Only sources with `cert-manager.io/issuer` or `cluster-issuer` (or, on an
 *   Ingress, a true `--auto-certificate-annotations` annotation) are shimmed.
 * - Ingress: one Certificate per `spec.tls` entry, named after its
 *   `secretName`, its hosts as DNS names (IP addresses as IP SANs). An entry
 *   without hosts or secretName is skipped with a reason; two entries naming
 *   one Secret refuse the whole Ingress (one Certificate per name).
 * - A part skipped with a reason that still names a Secret keeps that
 *   Secret's Certificate as it is (cert-manager deletes only Certificates
 *   whose Secret the source no longer names): a slip that drops a host or a
 *   hostname gets a Warning, not a deleted Certificate.
 * - Gateway API Gateway: every HTTPS/TLS listener in Terminate mode adds its
 *   `hostname` to the Certificate of each Secret in its `certificateRefs`
 *   (listeners naming one Secret merge); Passthrough is skipped silently; a
 *   listener without hostname, TLS block, certificateRefs or with a
 *   cross-namespace or non-Secret reference is skipped with a reason.
 * - Gateway API ListenerSet: its listeners as a Gateway's, once its parent
 *   Gateway exists (until then nothing changes); it inherits the parent's
 *   issuer annotations (issuer or cluster-issuer unless it names one, and
 *   issuer-kind/issuer-group), as cert-manager's ListenerSet shim does.
 * - Istio Gateway: every server with `tls.mode` SIMPLE, MUTUAL or OPTIONAL_MUTUAL and a
 *   `credentialName` adds its hosts (without the `namespace/` prefix;
 *   `*.` wildcards kept, a bare `*` dropped) to the Certificate of that
 *   Secret, made in `istioGatewaySecretNamespace` (default the Gateway's).
 * - Each Certificate: the source's labels (without the applyset label),
 *   issuerRef from the annotations or the defaults, default usages, then
 *   every other annotation translated (see annotations.ts); ACME HTTP-01
 *   hints as annotations; an ownerReference (controller) to the source, or,
 *   across namespaces where one cannot point, the `meshsign.io/shim-source`
 *   annotation.
 * - A bad annotation or issuer, or a Certificate its own validation would
 *   refuse (a duration under an hour), refuses the whole source (`badConfig`):
 *   the controller then changes nothing, so a typo never deletes a working
 *   Certificate.
 */
import { isIP } from "node:net";
import * as A from "../../api/annotations.js";
import { DEFAULT_USAGES } from "../../api/defaults.js";
import { formatFieldErrors, validateResource } from "../../api/validate.js";
import type { OwnerReference } from "../../store/types.js";
import type { Certificate, CertificateSpec } from "../lib/api.js";
import { translateAnnotations } from "./annotations.js";
import {
  describeKind,
  type ShimOptions,
  type ShimSource,
  type ShimSourceKind,
  shimSourceKind,
} from "./types.js";

/** kubectl's ApplySet label: copied to Certificates it would make them pruned with the set (cert-manager #7306). */
const APPLYSET_LABEL = "applyset.kubernetes.io/part-of";

export interface ShimPlan {
  /** False when the source does not ask for Certificates (any it owns should go). */
  readonly annotated: boolean;
  /** Set when nothing can be decided yet (a ListenerSet whose parent Gateway is not there): change nothing. */
  readonly waiting?: string;
  /** The source's configuration as a whole is refused (Warning Event; nothing is changed). */
  readonly badConfig?: string;
  /** The Certificates wanted, in source order. */
  readonly certificates: readonly Certificate[];
  /** Parts skipped, each a reason for a Warning Event (a TLS block without hosts, a listener without hostname...). */
  readonly skipped: readonly string[];
  /** "<ns>/<name>" of Certificates that skipped parts still name: neither made, changed nor deleted. */
  readonly retained: readonly string[];
}

/**
 * What the shims want for `source` under `options`. A ListenerSet needs its parent Gateway
 * (`parent`, looked up by the caller from `spec.parentRef`).
 */
export function planCertificates(source: ShimSource, options: ShimOptions, parent?: ShimSource): ShimPlan {
  const kind = shimSourceKind(source);
  if (kind === "ListenerSet" && parent === undefined)
    return { annotated: false, waiting: "its parent Gateway does not exist", certificates: [], skipped: [], retained: [] };
  const annotations =
    kind === "ListenerSet" && parent !== undefined
      ? inheritAnnotations(source.metadata.annotations ?? {}, parent.metadata.annotations ?? {})
      : (source.metadata.annotations ?? {});
  if (
    kind === undefined ||
    !hasShimAnnotation(annotations, kind === "Ingress" ? options.autoCertificateAnnotations : [])
  ) {
    return { annotated: false, certificates: [], skipped: [], retained: [] };
  }
  const refuse = (badConfig: string): ShimPlan => ({
    annotated: true,
    badConfig,
    certificates: [],
    skipped: [],
    retained: [],
  });
  const issuer = issuerFor(annotations, options);
  if ("error" in issuer)
    return refuse(
      `Could not determine issuer for ${describeKind(kind)} due to bad annotations: ${issuer.error}`,
    );
  const translated = translateAnnotations(annotations);
  if (!translated.ok)
    return refuse(
      `Annotation ${JSON.stringify(translated.annotation)} has an invalid value ${JSON.stringify(translated.value)}: ${translated.message}`,
    );

  const skipped: string[] = [];
  const retained: string[] = [];
  const retain: Retain = (namespace, name) => retained.push(`${namespace}/${name}`);
  const secrets = new Map<string, { namespace: string; name: string; hosts: string[] }>();
  const add = (namespace: string, name: string, hosts: readonly string[]) => {
    const key = `${namespace}/${name}`;
    const entry = secrets.get(key) ?? { namespace, name, hosts: [] };
    entry.hosts.push(...hosts);
    secrets.set(key, entry);
  };
  const ns = source.metadata.namespace ?? "default";
  if (kind === "Ingress") {
    const duplicate = duplicateSecretName(
      (source as Extract<ShimSource, { kind: "Ingress" }>).spec?.tls ?? [],
    );
    if (duplicate !== undefined) return refuse(duplicate);
    ((source as Extract<ShimSource, { kind: "Ingress" }>).spec?.tls ?? []).forEach((tls, i) => {
      const missing = [
        ...((tls.hosts ?? []).length === 0 ? [`spec.tls[${i}].hosts: Required value`] : []),
        ...(!tls.secretName ? [`spec.tls[${i}].secretName: Required value`] : []),
      ];
      if (missing.length > 0) {
        skipped.push(`Skipped a TLS block: ${missing.join(", ")}`);
        if (tls.secretName) retain(ns, tls.secretName);
      } else add(ns, tls.secretName as string, tls.hosts ?? []);
    });
  } else if (kind === "Gateway" || kind === "ListenerSet") {
    gatewayListeners(
      (source as GatewaySource | ListenerSetSource).spec.listeners ?? [],
      ns,
      add,
      skipped,
      retain,
    );
  } else {
    istioServers(source as IstioSource, options.istioGatewaySecretNamespace || ns, add, skipped, retain);
  }

  const certificates: Certificate[] = [];
  for (const secret of secrets.values()) {
    const built = buildCertificate(source, kind, secret, issuer, translated.spec);
    const checked = validateResource(built);
    // Refused as a whole, like a bad annotation: leaving it out would delete the Certificate that works now.
    if (!checked.ok)
      return refuse(
        `Certificate ${JSON.stringify(secret.name)} would be invalid: ${formatFieldErrors(checked.errors)}`,
      );
    certificates.push(built);
  }
  return { annotated: true, certificates, skipped, retained };
}

/** Whether `certificate` was made by a shim for `source` (an ownerReference controller, or the cross-namespace annotation). */
export function isOwnedBy(certificate: Certificate, source: ShimSource): boolean {
  const uid = source.metadata.uid;
  if (uid === undefined || uid === "") return false;
  if ((certificate.metadata.ownerReferences ?? []).some((r) => r.controller === true && r.uid === uid))
    return true;
  return certificate.metadata.annotations?.[A.SHIM_SOURCE] === sourceMarker(source);
}

/** The controlling owner of a Certificate made by a shim, as "Kind namespace/name" for messages, or undefined. */
export function shimOwnerOf(certificate: Certificate): string | undefined {
  const ref = (certificate.metadata.ownerReferences ?? []).find((r) => r.controller === true);
  if (ref !== undefined) return `${ref.kind} ${certificate.metadata.namespace ?? ""}/${ref.name}`;
  const marker = certificate.metadata.annotations?.[A.SHIM_SOURCE];
  if (marker === undefined) return undefined;
  const parts = marker.split("/");
  // <group>/<version>/<kind>/<ns>/<name>/<uid> or <version>/<kind>/<ns>/<name>/<uid>
  return parts.length >= 5
    ? `${parts[parts.length - 4]} ${parts[parts.length - 3]}/${parts[parts.length - 2]}`
    : marker;
}

/**
 * The source a cross-namespace Certificate is marked with (`meshsign.io/shim-source`), as a stand-in
 * object that {@link isOwnedBy} matches, or undefined when it carries no well-formed marker.
 */
export function markedSource(certificate: Certificate): ShimSource | undefined {
  const marker = certificate.metadata.annotations?.[A.SHIM_SOURCE];
  if (marker === undefined) return undefined;
  // <group>/<version>/<kind>/<ns>/<name>/<uid>: names, namespaces and uids hold no "/".
  const parts = marker.split("/");
  if (parts.length !== 6 || parts.some((p) => p === "")) return undefined;
  const [group, version, kind, namespace, name, uid] = parts as [string, string, string, string, string, string];
  return { apiVersion: `${group}/${version}`, kind, metadata: { namespace, name, uid } } as ShimSource;
}

function sourceMarker(source: ShimSource): string {
  return `${source.apiVersion}/${source.kind}/${source.metadata.namespace ?? ""}/${source.metadata.name ?? ""}/${source.metadata.uid ?? ""}`;
}

/** A ListenerSet's annotations with its parent Gateway's issuer annotations filled in. */
function inheritAnnotations(
  own: Readonly<Record<string, string>>,
  parent: Readonly<Record<string, string>>,
): Record<string, string> {
  const out = { ...own };
  if (!Object.hasOwn(own, A.SHIM_ISSUER) && !Object.hasOwn(own, A.SHIM_CLUSTER_ISSUER)) {
    for (const k of [A.SHIM_CLUSTER_ISSUER, A.SHIM_ISSUER])
      if (Object.hasOwn(parent, k)) out[k] = parent[k] as string;
  }
  for (const k of [A.SHIM_ISSUER_KIND, A.SHIM_ISSUER_GROUP])
    if (Object.hasOwn(parent, k)) out[k] = parent[k] as string;
  return out;
}

function hasShimAnnotation(annotations: Readonly<Record<string, string>>, auto: readonly string[]): boolean {
  if (Object.hasOwn(annotations, A.SHIM_ISSUER) || Object.hasOwn(annotations, A.SHIM_CLUSTER_ISSUER))
    return true;
  return auto.some((key) => Object.hasOwn(annotations, key) && parseGoBool(annotations[key] ?? "") === true);
}

/** Go's strconv.ParseBool. */
function parseGoBool(v: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

type Issuer = { name: string; kind: string; group: string };

/** cert-manager's issuerForIngressLike: annotations over the defaults, every conflict named. */
function issuerFor(
  annotations: Readonly<Record<string, string>>,
  options: ShimOptions,
): Issuer | { error: string } {
  let name = options.defaultIssuerName;
  let kind = options.defaultIssuerKind;
  let group = options.defaultIssuerGroup;
  const has = (k: string) => Object.hasOwn(annotations, k);
  if (has(A.SHIM_ISSUER)) {
    name = annotations[A.SHIM_ISSUER] ?? "";
    kind = "Issuer";
  }
  if (has(A.SHIM_CLUSTER_ISSUER)) {
    name = annotations[A.SHIM_CLUSTER_ISSUER] ?? "";
    kind = "ClusterIssuer";
  }
  if (has(A.SHIM_ISSUER_KIND)) kind = annotations[A.SHIM_ISSUER_KIND] ?? "";
  if (has(A.SHIM_ISSUER_GROUP)) group = annotations[A.SHIM_ISSUER_GROUP] ?? "";
  const errors: string[] = [];
  if (name === "") errors.push("failed to determine issuer name to be used for ingress resource");
  const both = (a: string, b: string) =>
    errors.push(`both ${JSON.stringify(a)} and ${JSON.stringify(b)} may not be set`);
  if (has(A.SHIM_ISSUER) && has(A.SHIM_CLUSTER_ISSUER)) both(A.SHIM_ISSUER, A.SHIM_CLUSTER_ISSUER);
  if (has(A.SHIM_CLUSTER_ISSUER) && has(A.SHIM_ISSUER_GROUP))
    both(A.SHIM_CLUSTER_ISSUER, A.SHIM_ISSUER_GROUP);
  if (has(A.SHIM_CLUSTER_ISSUER) && has(A.SHIM_ISSUER_KIND)) both(A.SHIM_CLUSTER_ISSUER, A.SHIM_ISSUER_KIND);
  return errors.length > 0 ? { error: errors.join(", ") } : { name, kind, group };
}

function duplicateSecretName(tls: readonly { secretName?: string | undefined }[]): string | undefined {
  const first = new Map<string, number>();
  for (const [i, entry] of tls.entries()) {
    const name = entry.secretName ?? "";
    const earlier = first.get(name);
    if (earlier !== undefined) {
      return `spec.tls[${earlier}].secretName: Invalid value: ${JSON.stringify(name)}: this secret name must only appear in a single TLS entry but is also used in spec.tls[${i}].secretName`;
    }
    first.set(name, i);
  }
  return undefined;
}

type GatewaySource = Extract<ShimSource, { kind: "Gateway"; apiVersion: "gateway.networking.k8s.io/v1" }>;
type ListenerSetSource = Extract<ShimSource, { kind: "ListenerSet" }>;
type Listener = NonNullable<GatewaySource["spec"]["listeners"]>[number];
type IstioSource = Extract<ShimSource, { apiVersion: "networking.istio.io/v1" }>;
type Add = (namespace: string, name: string, hosts: readonly string[]) => void;
type Retain = (namespace: string, name: string) => void;

function gatewayListeners(
  listeners: readonly Listener[],
  ns: string,
  add: Add,
  skipped: string[],
  retain: Retain,
): void {
  listeners.forEach((l, i) => {
    // TLS certificates only for the TLS-capable protocols (Gateway API guide, "Listeners and TLS").
    if (l.protocol !== "HTTPS" && l.protocol !== "TLS") return;
    if (l.tls?.mode === "Passthrough") return;
    const at = `spec.listeners[${i}]`;
    const problems: string[] = [];
    if (!l.hostname) problems.push(`${at}.hostname: Required value: the hostname cannot be empty`);
    const refs = l.tls?.certificateRefs ?? [];
    if (l.tls === undefined) problems.push(`${at}.tls: Required value: the TLS block cannot be empty`);
    else {
      if (refs.length === 0)
        problems.push(`${at}.tls.certificateRef: Required value: listener has no certificateRefs`);
      refs.forEach((ref, j) => {
        if (ref.group !== undefined && ref.group !== "" && ref.group !== "core")
          problems.push(
            `${at}.tls.certificateRef[${j}].group: Unsupported value: ${JSON.stringify(ref.group)}: supported values: "core", ""`,
          );
        if (ref.kind !== undefined && ref.kind !== "" && ref.kind !== "Secret")
          problems.push(
            `${at}.tls.certificateRef[${j}].kind: Unsupported value: ${JSON.stringify(ref.kind)}: supported values: "Secret", ""`,
          );
        if (ref.namespace !== undefined && ref.namespace !== ns)
          problems.push(
            `${at}.tls.certificateRef[${j}].namespace: Invalid value: ${JSON.stringify(ref.namespace)}: cross-namespace secret references are not allowed in listeners`,
          );
      });
      // The Gateway API defaults mode to Terminate; a document not defaulted by an API server may omit it.
      if (l.tls.mode !== undefined && l.tls.mode !== "Terminate")
        problems.push(
          `${at}.tls.mode: Unsupported value: ${JSON.stringify(l.tls.mode)}: supported values: "Terminate"`,
        );
    }
    if (problems.length > 0) {
      skipped.push(`Skipped a listener block: ${problems.join(", ")}`);
      for (const ref of refs) if (ref.namespace === undefined || ref.namespace === ns) retain(ns, ref.name);
      return;
    }
    for (const ref of refs) add(ns, ref.name, [l.hostname as string]);
  });
}

function istioServers(
  gateway: IstioSource,
  secretNamespace: string,
  add: Add,
  skipped: string[],
  retain: Retain,
): void {
  (gateway.spec?.servers ?? []).forEach((server, i) => {
    const mode = server.tls?.mode;
    // The modes in which the gateway terminates TLS with the credentialName's certificate
    // (OPTIONAL_MUTUAL, Istio 1.19+: MUTUAL with the client certificate asked for, not required).
    if (mode !== "SIMPLE" && mode !== "MUTUAL" && mode !== "OPTIONAL_MUTUAL") return;
    const credentialName = server.tls?.credentialName ?? "";
    if (credentialName === "") {
      skipped.push(
        `Skipped a server: spec.servers[${i}].tls.credentialName: Required value: a ${mode} server needs the Secret name`,
      );
      return;
    }
    // "namespace/host" selects virtual services by namespace; the certificate names the host.
    const hosts = (server.hosts ?? [])
      .map((h) => h.slice(h.indexOf("/") + 1))
      .filter((h) => h !== "*" && h !== "");
    if (hosts.length === 0) {
      skipped.push(
        `Skipped a server: spec.servers[${i}].hosts: no host a certificate can name (a bare "*" cannot be one)`,
      );
      retain(secretNamespace, credentialName);
      return;
    }
    add(secretNamespace, credentialName, hosts);
  });
}

function buildCertificate(
  source: ShimSource,
  kind: ShimSourceKind,
  secret: { namespace: string; name: string; hosts: readonly string[] },
  issuer: Issuer,
  annotated: Partial<CertificateSpec>,
): Certificate {
  const hosts = [...new Set(secret.hosts)];
  const dnsNames = hosts.filter((h) => isIP(h) === 0);
  const ipAddresses = hosts.filter((h) => isIP(h) !== 0);
  const labels = { ...(source.metadata.labels ?? {}) };
  delete labels[APPLYSET_LABEL];
  const annotations = issuerSpecificAnnotations(source, kind);
  const sameNamespace = secret.namespace === (source.metadata.namespace ?? "default");
  if (!sameNamespace) annotations[A.SHIM_SOURCE] = sourceMarker(source);
  // No blockOwnerDeletion (cert-manager sets it): it only orders foreground deletion, and would need
  // update on <source>/finalizers where OwnerReferencesPermissionEnforcement runs; the shims only read.
  const owner: OwnerReference = {
    apiVersion: source.apiVersion,
    kind: source.kind,
    name: source.metadata.name ?? "",
    uid: source.metadata.uid ?? "",
    controller: true,
  };
  const spec: CertificateSpec = {
    secretName: secret.name,
    issuerRef: { name: issuer.name, kind: issuer.kind, group: issuer.group },
    usages: [...DEFAULT_USAGES],
    ...(dnsNames.length > 0 ? { dnsNames } : {}),
    ...(ipAddresses.length > 0
      ? { ipAddresses: [...new Map(ipAddresses.map((ip) => [canonicalIp(ip), ip])).values()] }
      : {}),
    ...annotated,
  };
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: {
      name: secret.name,
      namespace: secret.namespace,
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      ...(sameNamespace && owner.uid !== "" ? { ownerReferences: [owner] } : {}),
    },
    spec,
  };
}

/** cert-manager's setIssuerSpecificConfig: ACME HTTP-01 hints carried as Certificate annotations. */
function issuerSpecificAnnotations(source: ShimSource, kind: ShimSourceKind): Record<string, string> {
  const a = source.metadata.annotations ?? {};
  const out: Record<string, string> = {};
  if (a[A.SHIM_ACME_HTTP01_EDIT_IN_PLACE] === "true") {
    out[A.ACME_HTTP01_OVERRIDE_INGRESS_NAME] = source.metadata.name ?? "";
    // ingress-gce serves nothing for a host until its Secret exists.
    out[A.ISSUE_TEMPORARY_CERTIFICATE] = "true";
  }
  if (a[A.SHIM_ACME_HTTP01_INGRESS_CLASS])
    out[A.ACME_HTTP01_OVERRIDE_INGRESS_CLASS] = a[A.SHIM_ACME_HTTP01_INGRESS_CLASS];
  if (a[A.SHIM_ACME_HTTP01_INGRESS_CLASS_NAME])
    out[A.ACME_HTTP01_OVERRIDE_INGRESS_CLASS_NAME] = a[A.SHIM_ACME_HTTP01_INGRESS_CLASS_NAME];
  if (kind === "Gateway" || kind === "ListenerSet") {
    out[A.ACME_HTTP01_PARENT_REF_KIND] = kind;
    out[A.ACME_HTTP01_PARENT_REF_NAME] = source.metadata.name ?? "";
  }
  return out;
}

/** Two spellings of one IPv6 address are one SAN. */
function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname;
  } catch {
    return ip;
  }
}
