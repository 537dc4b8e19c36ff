/**
 * Where the mesh's trust anchors come from: a PEM bundle (one or more root
 * certificates) that can change at run time. During a CA rotation it holds
 * the old and the new root, so workloads trust both while they move over.
 */
export interface RootsSource {
  /** The current bundle, or undefined before the first one is known. */
  current(): string | undefined;
  /** Calls `listener` with every new bundle (not the current one); returns an unsubscribe function. */
  subscribe(listener: (pem: string) => void): () => void;
}

/**
 * A RootsSource fed by its owner (the CA loader, a test, the roots-file
 * watcher): `set` publishes a bundle when its bytes differ from the current one.
 */
export class RootsBroadcaster implements RootsSource {
  #pem: string | undefined;
  readonly #listeners = new Set<(pem: string) => void>();

  constructor(initial?: string) {
    this.#pem = initial;
  }

  current(): string | undefined {
    return this.#pem;
  }

  /** Publishes `pem`; a no-op (false) when it equals the current bundle byte for byte. */
  set(pem: string): boolean {
    if (pem === this.#pem) return false;
    this.#pem = pem;
    for (const listener of [...this.#listeners]) listener(pem);
    return true;
  }

  subscribe(listener: (pem: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
