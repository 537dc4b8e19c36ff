/**
 * Shares equal strings between the objects a store keeps in memory.
 *
 * Every stored object is a private copy (structuredClone or JSON.parse), and
 * V8 does not de-duplicate string values, so 10,000 Certificates held 10,000
 * copies of "cert-manager.io", of each condition message and timestamp, and
 * two copies of the CA bundle per Certificate (the Secret's ca.crt and the
 * request's status.ca). Measured at 3,000 Certificates: 18.5 MB of duplicate
 * strings, about 6 KB per Certificate.
 *
 * Two bounded tables, so strings of deleted objects are not kept for ever:
 * - short strings (names, uids, timestamps, reasons, messages) in two
 *   generations: a lookup that hits the old generation moves the string to the
 *   young one, and when the young one is full it becomes the old one (the old
 *   one is dropped). Strings in use keep being found; the rest age out.
 * - long strings (base64 certificates and CA bundles) in a small table of the
 *   most recently seen ones: the CA bundle recurs in every Secret, and a
 *   request's certificate is written to its Secret moments later.
 */

/** Strings up to this length go to the short-string tables. */
const SHORT_MAX = 256;
/** Longer strings than this are never interned (hashing them costs more than they would save). */
const LONG_MAX = 64 * 1024;

export interface InternerOptions {
  /** Entries of one short-string generation. Default 20,000. */
  readonly shortGeneration?: number;
  /** Most recent long strings remembered. Default 1,024. */
  readonly longEntries?: number;
}

export class StringInterner {
  readonly #shortGeneration: number;
  readonly #longEntries: number;
  #young = new Map<string, string>();
  #old = new Map<string, string>();
  readonly #long = new Map<string, string>();

  constructor(options: InternerOptions = {}) {
    this.#shortGeneration = options.shortGeneration ?? 20_000;
    this.#longEntries = options.longEntries ?? 1024;
  }

  /** Strings remembered now (both short-string generations and the long-string table). */
  get size(): number {
    return this.#young.size + this.#old.size + this.#long.size;
  }

  /** Whether `s` is remembered now. */
  has(s: string): boolean {
    return this.#young.has(s) || this.#old.has(s) || this.#long.has(s);
  }

  /** The shared instance of `s` (`s` itself the first time it is seen). */
  string(s: string): string {
    if (s.length <= SHORT_MAX) return this.#short(s);
    if (s.length > LONG_MAX) return s;
    const hit = this.#long.get(s);
    if (hit !== undefined) {
      // Most recently used last: the oldest entry is the first one dropped.
      this.#long.delete(hit);
      this.#long.set(hit, hit);
      return hit;
    }
    this.#long.set(s, s);
    if (this.#long.size > this.#longEntries) {
      const oldest = this.#long.keys().next().value;
      if (oldest !== undefined) this.#long.delete(oldest);
    }
    return s;
  }

  /**
   * Replaces, in place, every string value inside a JSON-shaped value (plain
   * objects and arrays) by its shared instance, and returns it. Property names
   * need nothing: V8 already shares them.
   */
  deep<T>(value: T): T {
    if (typeof value === "string") return this.string(value) as T;
    if (value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (typeof v === "string") value[i] = this.string(v);
        else if (v !== null && typeof v === "object") this.deep(v);
      }
      return value;
    }
    const o = value as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const v = o[k];
      if (typeof v === "string") o[k] = this.string(v);
      else if (v !== null && typeof v === "object") this.deep(v);
    }
    return value;
  }

  #short(s: string): string {
    const young = this.#young.get(s);
    if (young !== undefined) return young;
    const shared = this.#old.get(s) ?? s;
    this.#young.set(shared, shared);
    if (this.#young.size >= this.#shortGeneration) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    return shared;
  }
}
