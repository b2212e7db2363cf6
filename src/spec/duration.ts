import { InvalidArgumentError } from '../errors';

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Parse a Go-style duration (`10s`, `1h2m3s`, `500ms`, `1.5s`, `0`) into milliseconds, as Docker's flags accept. */
export function parseDuration(s: string, what = 'duration'): number {
  const text = s.trim();
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * UNITS[m[2]];
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== text.length) throw new InvalidArgumentError(`invalid ${what} "${s}": use a number with a unit, e.g. 10s, 1m30s, 500ms`);
  return Math.round(total);
}

/** Milliseconds back to a short Go-style duration (`1m30s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let rest = Math.round(ms / 1000);
  const h = Math.floor(rest / 3600);
  rest %= 3600;
  const m = Math.floor(rest / 60);
  const s = rest % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}
