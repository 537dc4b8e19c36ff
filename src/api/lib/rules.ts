import { isIP } from "node:net";
import { tryParseGoDuration } from "../duration.js";

/** Checks shared by the schemas. Private to src/api (not re-exported). */

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kubernetes qualified name (label/annotation keys): optional DNS prefix "/" then name. */
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const OID = /^[0-2](\.(0|[1-9]\d*))+$/;

export function isDns1123Subdomain(s: string): boolean {
  return s.length > 0 && s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

export function isDns1123Label(s: string): boolean {
  return s.length > 0 && s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isQualifiedName(key: string): boolean {
  return qualifiedNameProblem(key) === undefined;
}

/**
 * Why `key` is not a Kubernetes qualified name (a label or annotation key), or undefined when it
 * is one: apimachinery's validation.IsQualifiedName, in our words.
 */
export function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return "a key is a name with at most one prefix, written prefix/name (e.g. example.com/name)";
  const name = parts.at(-1) as string;
  if (parts.length === 2) {
    const prefix = parts[0] as string;
    if (prefix === "") return "the prefix before '/' is empty";
    if (!isDns1123Subdomain(prefix)) {
      return `its prefix ${JSON.stringify(prefix)} is not a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)`;
    }
  }
  if (name === "") return parts.length === 2 ? "the name after '/' is empty" : "it is empty";
  if (name.length > 63) return "its name is longer than 63 characters";
  if (!QUALIFIED_NAME.test(name)) return "its name must start and end with a letter or digit and hold only letters, digits, '-', '_' and '.'";
  return undefined;
}

export function isLabelValue(v: string): boolean {
  return labelValueProblem(v) === undefined;
}

/** Why `v` is not a Kubernetes label value, or undefined when it is one (validation.IsValidLabelValue). */
export function labelValueProblem(v: string): string | undefined {
  if (v.length > 63) return "it is longer than 63 characters";
  if (!LABEL_VALUE.test(v)) return "a value is empty, or starts and ends with a letter or digit and holds only letters, digits, '-', '_' and '.'";
  return undefined;
}

export function isBase64(s: string): boolean {
  return BASE64.test(s.replace(/\s+/g, ""));
}

export function isSecretKey(s: string): boolean {
  return s.length <= 253 && SECRET_KEY.test(s);
}

export function isIpAddress(s: string): boolean {
  return isIP(s) !== 0;
}

export function isOid(s: string): boolean {
  return OID.test(s);
}

/** A bare e-mail address (no display name), as Go's mail.ParseAddress accepts and cert-manager requires. */
export function isBareEmail(s: string): boolean {
  return /^[^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\[\]]+$/.test(s);
}

/** A CIDR range "addr/prefix". */
export function isCidr(s: string): boolean {
  const slash = s.indexOf("/");
  if (slash < 0) return false;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const version = isIP(ip);
  if (version === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (version === 4 ? 32 : 128);
}

export function isGoDuration(s: string): boolean {
  return tryParseGoDuration(s) !== undefined;
}

/** Renders a zod-style path as "spec.dnsNames[1]". */
export function renderPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const s = String(seg);
      out += out.length === 0 ? s : /^[A-Za-z_$][\w$]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}
