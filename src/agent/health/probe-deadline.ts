import type { ProbeResult } from './probe-types';

/** A probe's connection or request, destroyed once the probe has its answer. */
export interface ProbeHandle {
  destroy(): void;
}

/**
 * One network probe that answers once: with the first result `start`'s
 * callbacks report, or a timeout after `timeoutMs`. Either way the handle
 * `start` returned is destroyed and the timer cleared.
 */
export function probeWithin(timeoutMs: number, start: (settle: (r: ProbeResult) => void) => ProbeHandle): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let handle: ProbeHandle | undefined;
    const settle = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      handle?.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => settle({ ok: false, output: `health check timed out after ${timeoutMs} ms` }), timeoutMs);
    handle = start(settle);
    if (settled) handle.destroy();
  });
}
