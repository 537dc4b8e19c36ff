/**
 * Route53 changes submitted but not yet INSYNC, keyed by record and value, so
 * that a retried present/cleanUp resumes polling GetChange for the change it
 * already made instead of submitting it again (cert-manager keeps the same
 * cache for the same reason). One instance is shared by every provider the
 * factory builds, because a provider is built per Challenge attempt.
 */

export type ChangeAction = "present" | "cleanUp";

export interface PendingChange {
  readonly action: ChangeAction;
  readonly changeId: string;
  /** When the change was submitted (ms since epoch, from the injected clock). */
  readonly submittedAt: number;
}

export class PendingChanges {
  readonly #changes = new Map<string, PendingChange>();

  static #key(zoneId: string, fqdn: string, value: string): string {
    return `${zoneId}\u0000${fqdn}\u0000${value}`;
  }

  /** The pending change for this action; one for the other action is superseded, not resumed. */
  get(zoneId: string, fqdn: string, value: string, action: ChangeAction): PendingChange | undefined {
    const change = this.#changes.get(PendingChanges.#key(zoneId, fqdn, value));
    return change?.action === action ? change : undefined;
  }

  put(zoneId: string, fqdn: string, value: string, change: PendingChange): void {
    this.#changes.set(PendingChanges.#key(zoneId, fqdn, value), change);
  }

  delete(zoneId: string, fqdn: string, value: string): void {
    this.#changes.delete(PendingChanges.#key(zoneId, fqdn, value));
  }

  get size(): number {
    return this.#changes.size;
  }
}
