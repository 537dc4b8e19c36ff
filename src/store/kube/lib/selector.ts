import { MeshsignError } from "../../../errors/index.js";

// Label keys: optional DNS-subdomain prefix + "/" + name; values: name or empty.
// (Kubernetes apimachinery validation.IsQualifiedName / IsValidLabelValue.)
const NAME = "([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)";
const KEY_RE = new RegExp(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?${NAME}$`);
const VALUE_RE = new RegExp(`^(${NAME})?$`);

/**
 * Renders an equality-based label selector, e.g. { b: "2", a: "1" } -> "a=1,b=2"
 * (sorted, so equal selectors render equally). Undefined when empty.
 * Throws ERR_RESOURCE_INVALID for a key or value Kubernetes would refuse,
 * so a caller's value can never smuggle in another selector term.
 */
export function renderLabelSelector(
  selector: Readonly<Record<string, string>> | undefined,
): string | undefined {
  if (!selector) return undefined;
  const keys = Object.keys(selector).sort();
  if (keys.length === 0) return undefined;
  return keys
    .map((key) => {
      const value = selector[key] ?? "";
      if (!KEY_RE.test(key) || key.length > 317 || !VALUE_RE.test(value)) {
        throw new MeshsignError("ERR_RESOURCE_INVALID", "invalid label selector", { detail: { key } });
      }
      return `${key}=${value}`;
    })
    .join(",");
}

/** The union of two equality selectors; a key in both must agree (else ERR_RESOURCE_INVALID). */
export function mergeSelectors(
  a: Readonly<Record<string, string>> | undefined,
  b: Readonly<Record<string, string>> | undefined,
): Readonly<Record<string, string>> | undefined {
  if (!a) return b;
  if (!b) return a;
  for (const [key, value] of Object.entries(b)) {
    if (key in a && a[key] !== value) {
      throw new MeshsignError(
        "ERR_RESOURCE_INVALID",
        "label selector contradicts the store's Secret filter",
        {
          detail: { key },
        },
      );
    }
  }
  return { ...a, ...b };
}
