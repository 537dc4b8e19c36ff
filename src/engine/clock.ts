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
  /**
   * Runs `fn` once at (or soon after) `atMs` on the wall clock; a time in the past fires on the next
   * tick. A wall-clock jump neither fires it early nor delays it by more than a minute.
   */
  setTimer(atMs: number, fn: () => void): Timer;
}

/** A source of uniform floats in [0, 1), for jitter. */
export interface RandomSource {
  float(): number;
}

/**
 * Longest single wait before the wall clock is read again. Node's timers run on the monotonic clock,
 * so without steps a wall-clock jump forward (an NTP step, a VM or laptop resumed from a suspend the
 * monotonic clock did not count) would delay every deadline by the whole jump: a renewal due during
 * a three-day suspend would run days after the certificate expired. Re-reading Date.now() every
 * minute bounds that lateness to a minute, for one wake-up a minute of the engine's single timer
 * (it also stays far below Node's 2^31-1 ms cap on a delay).
 */
export const MAX_TIMER_STEP_MS = 60_000;

/** The process clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(atMs, fn) {
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const arm = (): void => {
      const delay = Math.max(0, atMs - Date.now());
      if (delay > MAX_TIMER_STEP_MS) {
        handle = setTimeout(arm, MAX_TIMER_STEP_MS);
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
