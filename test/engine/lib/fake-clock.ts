import type { Clock, RandomSource, Timer } from "../../../src/engine/clock.js";

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** A frozen clock: time moves only through advance/advanceTo, firing due timers in order. */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Pending[] = [];

  constructor(startMs: number) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(atMs: number, fn: () => void): Timer {
    const t: Pending = { at: atMs, seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(t);
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  }

  /** Earliest live timer, if any. */
  nextTimerAt(): number | undefined {
    const live = this.#timers.filter((t) => !t.cancelled);
    return live.length === 0 ? undefined : Math.min(...live.map((t) => t.at));
  }

  /**
   * Moves time to `targetMs`, firing each due timer at its own instant and
   * awaiting `settle` (e.g. engine.idle) after each, so work caused by a
   * timer runs at the time it was due.
   */
  async advanceTo(targetMs: number, settle: () => Promise<void> = async () => {}): Promise<void> {
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#timers[0];
      if (next === undefined || next.at > targetMs) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, next.at);
      next.fn();
      await settle();
    }
    this.#now = Math.max(this.#now, targetMs);
    await settle();
  }

  /**
   * Sets the wall clock to `ms`, forward or back, as an NTP step or a resumed VM does: no timer
   * fires on the way; those now due fire at the next advance (at the new time).
   */
  jumpTo(ms: number): void {
    this.#now = ms;
  }

  advance(ms: number, settle?: () => Promise<void>): Promise<void> {
    return this.advanceTo(this.#now + ms, settle);
  }
}

/** A random source that always returns the same fraction. */
export const fixedRandom = (fraction: number): RandomSource => ({ float: () => fraction });
