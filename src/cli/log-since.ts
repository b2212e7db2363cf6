import { InvalidArgumentError } from '../errors';
import { formatTimestampNs, NS_PER_MS, NS_PER_S, parseTimestampNs } from '../model/log-time';
import { parseDuration } from '../spec/duration';

const UNIX = /^(\d+)(?:\.(\d{1,9}))?$/;
const LOCAL_DATE = /^\d{4}-\d{2}-\d{2}$/;
const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?$/;

/**
 * `service logs --since` as Docker reads it: a relative duration back from
 * `nowMs` (`10m`, `1h30m`), a Unix timestamp (`1700000000`, with up to nine
 * decimals), or an RFC3339 time (with a zone; without one, or a bare date,
 * it is local time). "0" is the Unix epoch, not a duration, as in Docker.
 * Returns the time as RFC3339Nano in UTC, which is what the API takes.
 */
export function parseSince(value: string, nowMs: number): string {
  const v = value.trim();
  const ns = sinceNs(v, nowMs);
  if (ns === undefined) {
    throw new InvalidArgumentError(`invalid since "${value}": use an RFC3339 time (2006-01-02T15:04:05Z), a Unix timestamp or a duration such as 10m`);
  }
  return formatTimestampNs(ns);
}

function sinceNs(v: string, nowMs: number): bigint | undefined {
  if (v !== '0' && /^[\d.]+[a-zµ]/.test(v)) {
    try {
      const ms = parseDuration(v, 'since');
      return BigInt(nowMs - ms) * NS_PER_MS;
    } catch {
      return undefined;
    }
  }
  const unix = UNIX.exec(v);
  if (unix) return BigInt(unix[1]) * NS_PER_S + BigInt((unix[2] ?? '').padEnd(9, '0'));
  const rfc = parseTimestampNs(v);
  if (rfc !== undefined) return rfc;
  if (LOCAL_DATE.test(v) || LOCAL_TIME.test(v)) {
    // Date.parse reads a date-only string as UTC and a date-time without zone as local: Docker takes both as local.
    const ms = Date.parse(LOCAL_DATE.test(v) ? `${v}T00:00:00` : v);
    return Number.isNaN(ms) ? undefined : BigInt(ms) * NS_PER_MS;
  }
  return undefined;
}
