/**
 * Timers as an injected dependency: the shells that wait (the control loop's
 * debounce and resync, the mesh's apply debounce, the health checker's probe
 * schedule) take a `Timers` and default to the real ones, so a test can hand
 * in a fake clock, advance it, and then assert that nothing happened.
 */

/** A pending timer as the timers hand it out: given back to clear it, unref'd so it alone keeps no process alive. */
export interface TimerHandle {
  unref(): unknown;
}

/** setTimeout/setInterval and their clears, as the shells use them. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | null | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | null | undefined): void;
}

/** Timers plus the time they run on, in epoch milliseconds. */
export interface Clock extends Timers {
  now(): number;
}

/** Node's own timers. */
export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout | undefined),
};
