/**
 * A decision as an ordered list of small named checks that stops at the first
 * failure (STYLE principle 6; models: cert-manager's policies `Chain.Evaluate`
 * and smallstep's sign-option validators).
 */
import { type ErrorCode, MeshsignError } from "../errors/index.js";

/** Why a check failed: the error code and a client-safe message. */
export interface Violation {
  readonly code: ErrorCode;
  readonly message: string;
  /** Log-only context (never secrets). */
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** One named rule over an input; returns a violation or undefined when satisfied. */
export interface Check<I> {
  /** Stable kebab-case rule name, shown to clients and in logs. */
  readonly name: string;
  readonly check: (input: I) => Violation | undefined;
}

/**
 * Runs `checks` in order and throws a MeshsignError for the first violation,
 * its message prefixed with the rule name and `detail.rule` set.
 */
export function evaluate<I>(checks: readonly Check<I>[], input: I): void {
  for (const c of checks) {
    const v = c.check(input);
    if (v !== undefined) {
      throw new MeshsignError(v.code, `${c.name}: ${v.message}`, { detail: { rule: c.name, ...v.detail } });
    }
  }
}
