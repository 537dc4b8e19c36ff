/**
 * Runs one task at a time per key. Route53 has no conditional write for a
 * record set, so two challenges at one name in this process (a wildcard and
 * its apex) would otherwise both read the value set and the second UPSERT
 * would drop the first one's value.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    try {
      return await result;
    } finally {
      // The last task at a key clears it, so the map does not grow with every name ever seen.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
