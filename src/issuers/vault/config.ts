/**
 * `spec.vault` of an Issuer/ClusterIssuer, validated once into a typed
 * config, exactly as cert-manager accepts it (`pkg/apis/certmanager/v1`
 * `VaultIssuer`, `VaultAuth`). A bad field becomes a {@link VaultConfigError}
 * naming it; the issuer then reports not Ready with that message.
 */

/** A key in a Secret (cert-manager's `SecretKeySelector`). */
export interface SecretKeyRef {
  readonly name: string;
  readonly key: string;
}

export type VaultAuthConfig =
  | { readonly method: "token"; readonly tokenSecretRef: SecretKeyRef }
  | { readonly method: "appRole"; readonly path: string; readonly roleId: string; readonly secretRef: SecretKeyRef }
  | { readonly method: "kubernetes"; readonly mountPath: string; readonly role: string; readonly secretRef?: SecretKeyRef; readonly serviceAccountRef?: { readonly name: string; readonly audiences: readonly string[] } }
  | { readonly method: "clientCertificate"; readonly mountPath: string; readonly secretName?: string; readonly name?: string };

export interface VaultIssuerConfig {
  /** Base URL, e.g. https://vault.vault.svc:8200 (no trailing slash). */
  readonly server: string;
  /** The PKI sign endpoint below /v1/, e.g. `pki_int/sign/mesh` or `pki_int/sign-verbatim`. */
  readonly path: string;
  /** Vault Enterprise namespace, sent as X-Vault-Namespace on every call but sys/health. */
  readonly namespace?: string;
  /** TLS server name (SNI and verification) when it differs from the server's host. */
  readonly serverName?: string;
  /** PEM trust anchors for Vault's TLS certificate (from caBundle, base64 in the resource). */
  readonly caBundle?: string;
  readonly caBundleSecretRef?: SecretKeyRef;
  readonly clientCertSecretRef?: SecretKeyRef;
  readonly clientKeySecretRef?: SecretKeyRef;
  readonly auth: VaultAuthConfig;
}

/** A spec.vault field is missing or invalid; `message` names the field and is safe to show. */
export class VaultConfigError extends Error {
  override readonly name = "VaultConfigError";
}

const AUTH_METHODS = ["tokenSecretRef", "appRole", "clientCertificate", "kubernetes", "aws"] as const;

type Obj = Readonly<Record<string, unknown>>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bad(field: string, why: string): never {
  throw new VaultConfigError(`spec.vault.${field} ${why}`);
}

function optString(o: Obj, key: string, field: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") bad(field, "must be a string");
  return v;
}

function reqString(o: Obj, key: string, field: string): string {
  const v = optString(o, key, field);
  if (v === undefined) bad(field, "is required");
  return v;
}

/** A SecretKeySelector; `defaultKey` undefined means the key is required (appRole.secretRef). */
function secretRef(v: unknown, field: string, defaultKey: string | undefined): SecretKeyRef {
  if (!isObj(v)) bad(field, "must be an object with name and key");
  const name = reqString(v, "name", `${field}.name`);
  const key = optString(v, "key", `${field}.key`) ?? defaultKey;
  if (key === undefined) bad(`${field}.key`, "is required");
  return { name, key };
}

function optSecretRef(o: Obj, key: string, field: string, defaultKey: string): SecretKeyRef | undefined {
  const v = o[key];
  return v === undefined || v === null ? undefined : secretRef(v, field, defaultKey);
}

/** `<mount>/sign/<role>` or `<mount>/sign-verbatim[/<role>]`; never `issue`, never `..`. */
function validatePath(raw: string): string {
  const path = raw.replace(/^\/+/, "").replace(/^v1\//, "");
  const segments = path.split("/");
  if (segments.some((s) => s === ".." || s === ".")) bad("path", `"${raw}" must not contain "." or ".." segments`);
  if (segments.some((s) => s === "")) bad("path", `"${raw}" must not contain empty segments`);
  if (segments.includes("issue")) {
    bad(
      "path",
      `"${raw}" points at Vault's issue endpoint, which generates its own private key and ignores the CSR, so the certificate never matches the key meshsign holds (cert-manager #4091); use "<mount>/sign/<role>" or "<mount>/sign-verbatim"`,
    );
  }
  const i = segments.findIndex((s) => s === "sign" || s === "sign-verbatim");
  const ok = i >= 1 && ((segments[i] === "sign" && i === segments.length - 2) || (segments[i] === "sign-verbatim" && i >= segments.length - 2));
  if (!ok) bad("path", `"${raw}" must be a PKI sign endpoint: "<mount>/sign/<role>" or "<mount>/sign-verbatim[/<role>]"`);
  return path;
}

function validateServer(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    bad("server", `"${raw}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") bad("server", `"${raw}" must be an http or https URL`);
  if (url.username !== "" || url.password !== "") bad("server", "must not carry credentials");
  if (url.search !== "" || url.hash !== "") bad("server", "must not have a query or fragment");
  return url.toString().replace(/\/+$/, "");
}

/** A login mount given as `/v1/auth/<name>` (cert-manager's form) or `auth/<name>`, normalised to `auth/<name>`. */
function mountPath(raw: string | undefined, fallback: string, field: string): string {
  const p = (raw ?? fallback).replace(/^\/+/, "").replace(/^v1\//, "").replace(/\/+$/, "");
  if (p.split("/").some((s) => s === "" || s === "." || s === "..")) bad(field, `"${raw}" is not a valid mount path`);
  return p;
}

function parseAuth(v: unknown): VaultAuthConfig {
  if (!isObj(v)) bad("auth", "is required: one of tokenSecretRef, appRole, kubernetes, clientCertificate");
  const set = AUTH_METHODS.filter((k) => v[k] !== undefined && v[k] !== null);
  if (set.length === 0) bad("auth", "must set one of tokenSecretRef, appRole, kubernetes, clientCertificate");
  if (set.length > 1) bad("auth", `sets ${set.join(", ")}: multiple auth methods cannot be set`);
  const method = set[0] as (typeof AUTH_METHODS)[number];
  const a = v[method];
  switch (method) {
    case "tokenSecretRef":
      return { method: "token", tokenSecretRef: secretRef(a, "auth.tokenSecretRef", "token") };
    case "appRole": {
      if (!isObj(a)) bad("auth.appRole", "must be an object");
      const path = mountPath(reqString(a, "path", "auth.appRole.path"), "", "auth.appRole.path");
      return {
        method: "appRole",
        path: path.startsWith("auth/") ? path : `auth/${path}`,
        roleId: reqString(a, "roleId", "auth.appRole.roleId"),
        secretRef: secretRef(a.secretRef, "auth.appRole.secretRef", undefined),
      };
    }
    case "kubernetes": {
      if (!isObj(a)) bad("auth.kubernetes", "must be an object");
      const role = reqString(a, "role", "auth.kubernetes.role");
      const mp = mountPath(optString(a, "mountPath", "auth.kubernetes.mountPath"), "auth/kubernetes", "auth.kubernetes.mountPath");
      const hasSecret = a.secretRef !== undefined && a.secretRef !== null;
      const hasSa = a.serviceAccountRef !== undefined && a.serviceAccountRef !== null;
      if (hasSecret === hasSa) bad("auth.kubernetes", "must set exactly one of secretRef and serviceAccountRef");
      if (hasSecret) return { method: "kubernetes", mountPath: mp, role, secretRef: secretRef(a.secretRef, "auth.kubernetes.secretRef", "token") };
      const sa = a.serviceAccountRef;
      if (!isObj(sa)) bad("auth.kubernetes.serviceAccountRef", "must be an object");
      const audiences = sa.audiences ?? [];
      if (!Array.isArray(audiences) || audiences.some((x) => typeof x !== "string")) bad("auth.kubernetes.serviceAccountRef.audiences", "must be a list of strings");
      return { method: "kubernetes", mountPath: mp, role, serviceAccountRef: { name: reqString(sa, "name", "auth.kubernetes.serviceAccountRef.name"), audiences: audiences as string[] } };
    }
    case "clientCertificate": {
      if (!isObj(a)) bad("auth.clientCertificate", "must be an object");
      const secretName = optString(a, "secretName", "auth.clientCertificate.secretName");
      const name = optString(a, "name", "auth.clientCertificate.name");
      return {
        method: "clientCertificate",
        mountPath: mountPath(optString(a, "mountPath", "auth.clientCertificate.mountPath"), "auth/cert", "auth.clientCertificate.mountPath"),
        ...(secretName !== undefined ? { secretName } : {}),
        ...(name !== undefined ? { name } : {}),
      };
    }
    case "aws":
      return bad("auth.aws", "is not supported by meshsign; use tokenSecretRef, appRole, kubernetes or clientCertificate");
  }
}

/** Validates `spec.vault`; throws {@link VaultConfigError} naming the first bad field. */
export function parseVaultConfig(spec: unknown): VaultIssuerConfig {
  if (!isObj(spec)) throw new VaultConfigError("spec.vault must be an object");
  const server = validateServer(reqString(spec, "server", "server"));
  const path = validatePath(reqString(spec, "path", "path"));
  const caBundleB64 = optString(spec, "caBundle", "caBundle");
  const caBundleSecretRef = optSecretRef(spec, "caBundleSecretRef", "caBundleSecretRef", "ca.crt");
  if (caBundleB64 !== undefined && caBundleSecretRef !== undefined) bad("caBundle", "and spec.vault.caBundleSecretRef are mutually exclusive");
  let caBundle: string | undefined;
  if (caBundleB64 !== undefined) {
    caBundle = Buffer.from(caBundleB64, "base64").toString("utf8");
    if (!caBundle.includes("-----BEGIN CERTIFICATE-----")) bad("caBundle", "must be base64-encoded PEM certificates");
  }
  const clientCertSecretRef = optSecretRef(spec, "clientCertSecretRef", "clientCertSecretRef", "tls.crt");
  const clientKeySecretRef = optSecretRef(spec, "clientKeySecretRef", "clientKeySecretRef", "tls.key");
  if ((clientCertSecretRef === undefined) !== (clientKeySecretRef === undefined)) bad("clientCertSecretRef", "and spec.vault.clientKeySecretRef must be set together");
  const namespace = optString(spec, "namespace", "namespace");
  const serverName = optString(spec, "serverName", "serverName");
  return {
    server,
    path,
    auth: parseAuth(spec.auth),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(serverName !== undefined ? { serverName } : {}),
    ...(caBundle !== undefined ? { caBundle } : {}),
    ...(caBundleSecretRef !== undefined ? { caBundleSecretRef } : {}),
    ...(clientCertSecretRef !== undefined ? { clientCertSecretRef } : {}),
    ...(clientKeySecretRef !== undefined ? { clientKeySecretRef } : {}),
  };
}

/** Names of every Secret the config reads (rebuild the issuer when one changes). */
export function referencedSecrets(config: VaultIssuerConfig): string[] {
  const names = [config.caBundleSecretRef?.name, config.clientCertSecretRef?.name, config.clientKeySecretRef?.name];
  const a = config.auth;
  if (a.method === "token") names.push(a.tokenSecretRef.name);
  if (a.method === "appRole") names.push(a.secretRef.name);
  if (a.method === "kubernetes") names.push(a.secretRef?.name);
  if (a.method === "clientCertificate") names.push(a.secretName);
  return [...new Set(names.filter((n): n is string => n !== undefined))];
}
