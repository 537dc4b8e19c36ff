/**
 * Event-driven waits for the ACME suite: `check` is evaluated again on every
 * change to the watched resource types (no sleeps, no timed assertions); the
 * timeout only turns a hang into a failure that says what was awaited.
 */
import type { ResourceType, Store } from "../../src/store/types.js";

export function untilStore<T>(
  store: Store,
  types: readonly ResourceType[],
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 180_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let running = false;
    let again = false;
    const watches = types.map((t) => store.watch(t, () => void run()));
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const w of watches) w.stop();
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`))),
      timeoutMs,
    );
    async function run(): Promise<void> {
      if (done) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          const v = await check();
          if (v !== undefined) return finish(() => resolve(v));
        } while (again && !done);
      } catch (err) {
        finish(() => reject(err));
      } finally {
        running = false;
      }
    }
    void run();
  });
}
