/**
 * One line of a task's log file, as Docker's json-file driver keeps it: one
 * JSON object per line, `{"t":"<RFC3339Nano>","s":"out"|"err","l":"text"}`.
 * JSON rather than a prefixed text line because a task may print anything
 * (quotes, control characters, text that looks like a prefix): JSON.stringify
 * escapes all of it and JSON.parse gives it back exactly, with no parser of
 * our own to get wrong. `p` marks a fragment: a line split at
 * MAX_LINE_BYTES, or flushed before its newline came.
 */

/** Which pipe a line came from. */
export type LogStream = 'out' | 'err';

/** One line (or fragment) of a task's output, with when it was received. */
export interface LogRecord {
  /** Receive time, RFC3339 with nanoseconds in UTC (fixed width, so strings sort as times). */
  t: string;
  s: LogStream;
  l: string;
  /** The line goes on in the next record of the same stream. */
  p?: boolean;
}

/** Docker's json-file driver splits lines at 16 KiB; so do we. */
export const MAX_LINE_BYTES = 16 * 1024;

export { formatTimestampNs, parseTimestampNs } from '../../model/log-time';
import { parseTimestampNs } from '../../model/log-time';

/** The record as one line of the log file, newline included. */
export function formatRecord(r: LogRecord): string {
  return JSON.stringify(r.p ? { t: r.t, s: r.s, l: r.l, p: true } : { t: r.t, s: r.s, l: r.l }) + '\n';
}

/**
 * A line of the log file back as a record. A line that is not a record (a
 * log written before records existed) is kept as stdout text with no time,
 * so old logs still show.
 */
export function parseRecord(line: string): LogRecord {
  if (line.startsWith('{')) {
    try {
      const v = JSON.parse(line) as Partial<LogRecord>;
      if (typeof v.t === 'string' && (v.s === 'out' || v.s === 'err') && typeof v.l === 'string') {
        return v.p ? { t: v.t, s: v.s, l: v.l, p: true } : { t: v.t, s: v.s, l: v.l };
      }
    } catch {
      // Not a record: plain text that starts with a brace.
    }
  }
  return { t: '', s: 'out', l: line };
}

/** Whether a record was received at or after `sinceNs` (records without a time always pass). */
export function isSince(r: LogRecord, sinceNs: bigint | undefined): boolean {
  if (sinceNs === undefined || r.t === '') return true;
  const ns = parseTimestampNs(r.t);
  return ns === undefined || ns >= sinceNs;
}

/**
 * A wall clock in nanoseconds that never goes back: Date.now() gives only
 * milliseconds, so the sub-millisecond part comes from the monotonic clock,
 * and two reads never return the same value (lines keep their order when
 * merged by time).
 */
export function monotonicWallClockNs(): () => bigint {
  const baseNs = BigInt(Date.now()) * 1_000_000n;
  const baseHr = process.hrtime.bigint();
  let last = 0n;
  return () => {
    let now = baseNs + (process.hrtime.bigint() - baseHr);
    if (now <= last) now = last + 1n;
    last = now;
    return now;
  };
}
