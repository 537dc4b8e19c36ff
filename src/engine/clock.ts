/**
 * Time and randomness, injected so that the engine, its scheduler and the
 * issuers can be driven by a frozen clock in tests (STYLE.md principle 9).
 */

/** A cancellable timer handle. */
export interface Timer {
  cancel(): void;
}

/** Wall-clock time and one-shot timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `fn` once at (or soon after) `atMs`; a time in the past fires on the next tick. */
  setTimer(atMs: number, fn: () => void): Timer;
}

/** A source of uniform floats in [0, 1), for jitter. */
export interface RandomSource {
  float(): number;
}

/** Node's timers cap a delay at 2^31-1 ms (about 24.8 days); longer waits are re-armed in steps. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** The process clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(atMs, fn) {
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const arm = (): void => {
      const delay = Math.max(0, atMs - Date.now());
      if (delay > MAX_TIMER_DELAY_MS) {
        handle = setTimeout(arm, MAX_TIMER_DELAY_MS);
      } else {
        handle = setTimeout(() => {
          if (!cancelled) fn();
        }, delay);
      }
      // A pending renewal must never keep a stopping process alive.
      handle.unref();
    };
    arm();
    return {
      cancel() {
        cancelled = true;
        if (handle !== undefined) clearTimeout(handle);
      },
    };
  },
};

/** Math.random as a RandomSource (jitter needs no cryptographic strength). */
export const systemRandom: RandomSource = { float: () => Math.random() };
