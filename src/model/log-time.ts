/**
 * Log line times: RFC3339 with nanoseconds, UTC, always nine digits (Docker's
 * RFC3339NanoFixed), so that the strings sort as the times they name. Shared
 * by the executor that stamps lines, the manager that merges them and the
 * CLI that parses `--since`.
 */

/** Nanoseconds in a millisecond. */
export const NS_PER_MS = 1_000_000n;
/** Nanoseconds in a second. */
export const NS_PER_S = 1_000_000_000n;

/** A time in nanoseconds since the epoch as RFC3339Nano with all nine digits (Docker's RFC3339NanoFixed). */
export function formatTimestampNs(ns: bigint): string {
  const ms = ns / NS_PER_MS;
  const iso = new Date(Number(ms)).toISOString(); // 2024-01-02T03:04:05.678Z
  const frac = (ns % NS_PER_S).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** Nanoseconds since the epoch of an RFC3339 time (any fraction up to ns, Z or an offset); undefined when it is not one. */
export function parseTimestampNs(s: string): bigint | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const secondsMs = Date.parse(`${m[1]}${m[3].toUpperCase()}`);
  if (Number.isNaN(secondsMs)) return undefined;
  return BigInt(secondsMs) * NS_PER_MS + BigInt((m[2] ?? '').padEnd(9, '0'));
}

