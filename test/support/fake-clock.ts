/**
 * A clock the test moves by hand: timers fire only inside `advance`, in due
 * order, each seeing `now()` at its due time. Handed to a shell's `timers`
 * (and `now`) dependency, it turns "wait and see that nothing happened" into
 * "advance past every deadline, then assert". Hand-written rather than
 * @sinonjs/fake-timers: the shells take timers as a dependency, so nothing
 * global needs patching, and tap, sockets and the store keep real timers.
 */
import type { Clock, TimerHandle } from '../../src/model/clock';

interface FakeTimer extends TimerHandle {
  dueAt: number;
  /** Repeat period of an interval; undefined for a timeout. */
  every?: number;
  fn: () => void;
  /** Order of creation, so timers due at the same time fire as they were set. */
  seq: number;
}

/** A Clock whose time moves only when the test says so. */
export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly timers = new Set<FakeTimer>();

  /** Starts at `start` ms since the epoch [2025-01-01T00:00:00Z]. */
  constructor(start = Date.parse('2025-01-01T00:00:00.000Z')) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  clearTimeout(handle: TimerHandle | null | undefined): void {
    if (handle) this.timers.delete(handle as FakeTimer);
  }

  clearInterval(handle: TimerHandle | null | undefined): void {
    this.clearTimeout(handle);
  }

  /** Timers set and not yet fired or cleared (intervals count until cleared). */
  get pending(): number {
    return this.timers.size;
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (let next = this.earliest(until); next; next = this.earliest(until)) {
      this.time = Math.max(this.time, next.dueAt);
      if (next.every === undefined) this.timers.delete(next);
      else next.dueAt += next.every;
      next.fn();
    }
    this.time = until;
  }

  /**
   * Advance `ms` in steps of `stepMs`, letting the event loop turn after
   * each step: what a fired timer started (a probe, a pass over the store)
   * finishes and may set its next timer, which a later step then fires.
   */
  async advanceSettling(ms: number, stepMs = ms): Promise<void> {
    for (let left = ms; left > 0; left -= stepMs) {
      this.advance(Math.min(stepMs, left));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private add(fn: () => void, ms: number, every?: number): FakeTimer {
    const timer: FakeTimer = { dueAt: this.time + Math.max(0, ms), every, fn, seq: this.seq++, unref: () => timer };
    this.timers.add(timer);
    return timer;
  }

  /** The timer due first, no later than `until`. */
  private earliest(until: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers) {
      if (t.dueAt > until) continue;
      if (!best || t.dueAt < best.dueAt || (t.dueAt === best.dueAt && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
