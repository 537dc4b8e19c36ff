/**
 * The TXT value set at one name. Route53 holds all TXT values of a name in one
 * record set, so adding or removing one ACME value is a read-modify-write of
 * that set: other values (another challenge's, an SPF record's) are kept as
 * they were, byte for byte.
 */

/** Route53's form of one TXT value: a quoted character-string. ACME values (base64url) need no escaping. */
export function quoteTxt(value: string): string {
  return `"${value}"`;
}

/** True when Route53's `raw` value holds exactly `value` (one character-string, quoted or not). */
function holds(raw: string, value: string): boolean {
  return raw === quoteTxt(value) || raw === value;
}

/** The value set after adding `value`, or undefined when it is already there (nothing to change). */
export function withTxtValue(existing: readonly string[], value: string): string[] | undefined {
  if (existing.some((raw) => holds(raw, value))) return undefined;
  return [...existing, quoteTxt(value)];
}

/** The value set after removing `value`, or undefined when it is not there (nothing to change). */
export function withoutTxtValue(existing: readonly string[], value: string): string[] | undefined {
  if (!existing.some((raw) => holds(raw, value))) return undefined;
  return existing.filter((raw) => !holds(raw, value));
}
