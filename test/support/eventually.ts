/**
 * The one way tests wait: poll a check until it holds (`eventually`), or
 * bound a promise (`within`). Both fail with what was awaited, so a hung
 * condition reads as "timed out after 10000 ms waiting for three running
 * tasks" instead of a tap timeout.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a wait may take before it fails the test; only reached when something is broken. */
export const WAIT_MS = 10_000;
/** Pause between two polls of a condition. */
const POLL_MS = 10;

/** How `eventually` polls. */
export interface EventuallyOptions {
  /** Give up after this long [WAIT_MS]. */
  timeoutMs?: number;
  /** Pause between polls [10 ms]; longer where a poll is costly (a CLI process per poll). */
  pollMs?: number;
  /** A check that throws is retried, its last error named on timeout, instead of failing at once [false]. */
  retryErrors?: boolean;
  /** Run before every poll, e.g. to advance a fake clock so the code under test makes progress. */
  beforePoll?: () => void;
}

/** A value a check returns when it does not hold yet. */
type NotYet = false | null | undefined;

/**
 * Poll `check` until it returns something truthy, and resolve with that;
 * reject after the timeout, naming `what`. A number is the timeout in ms.
 */
export async function eventually<T>(
  check: () => T | NotYet | Promise<T | NotYet>,
  what: string,
  options: number | EventuallyOptions = {},
): Promise<T> {
  const o = typeof options === 'number' ? { timeoutMs: options } : options;
  const timeoutMs = o.timeoutMs ?? WAIT_MS;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    o.beforePoll?.();
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      if (!o.retryErrors) throw err;
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const why = lastErr ? `: ${lastErr instanceof Error ? lastErr.message : String(lastErr)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(o.pollMs ?? POLL_MS);
  }
}

/** A check for `eventually` that reads a value and yields it once `ok` holds for it. */
export function satisfying<T>(read: () => Promise<T>, ok: (v: T) => boolean): () => Promise<T | undefined> {
  return async () => {
    const v = await read();
    return ok(v) ? v : undefined;
  };
}

/** `p`, or a rejection naming `what` if it has not settled within `ms`. */
export function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
