import t from 'tap';
import { formatRecord, formatTimestampNs, isSince, monotonicWallClockNs, parseRecord, parseTimestampNs, type LogRecord } from '../../../src/agent/executor/log-record';

t.test('timestamps: RFC3339 with all nine digits, and back', async (t) => {
  const ns = 1_700_000_000_123_456_789n;
  t.equal(formatTimestampNs(ns), '2023-11-14T22:13:20.123456789Z');
  t.equal(formatTimestampNs(1_700_000_000_000_000_000n), '2023-11-14T22:13:20.000000000Z');
  const cases: [string, bigint | undefined][] = [
    ['2023-11-14T22:13:20.123456789Z', ns],
    ['2023-11-14T22:13:20Z', 1_700_000_000_000_000_000n],
    ['2023-11-14T22:13:20.5Z', 1_700_000_000_500_000_000n],
    ['2023-11-14T23:13:20.000001+01:00', 1_700_000_000_000_001_000n],
    ['2023-11-14t22:13:20z', 1_700_000_000_000_000_000n],
    ['2023-11-14', undefined],
    ['2023-11-14T22:13:20.1234567891Z', undefined],
    ['yesterday', undefined],
    ['2023-13-45T99:13:20Z', undefined],
  ];
  for (const [s, want] of cases) t.equal(parseTimestampNs(s), want, s);
});

t.test('records: one JSON line each, and back; other lines stay text', async (t) => {
  const r: LogRecord = { t: '2023-11-14T22:13:20.123456789Z', s: 'err', l: 'say "hi"\t{x}' };
  t.equal(formatRecord(r), '{"t":"2023-11-14T22:13:20.123456789Z","s":"err","l":"say \\"hi\\"\\t{x}"}\n');
  t.same(parseRecord(formatRecord(r).trimEnd()), r);
  const partial: LogRecord = { ...r, p: true };
  t.same(parseRecord(formatRecord(partial).trimEnd()), partial);
  t.same(parseRecord('plain old line'), { t: '', s: 'out', l: 'plain old line' });
  t.same(parseRecord('{"not":"a record"}'), { t: '', s: 'out', l: '{"not":"a record"}' });
  t.same(parseRecord('{broken'), { t: '', s: 'out', l: '{broken' });
});

t.test('since: records at or after the time pass, untimed ones always', async (t) => {
  const at = (t: string): LogRecord => ({ t, s: 'out', l: 'x' });
  const since = parseTimestampNs('2023-11-14T22:13:20.5Z');
  t.notOk(isSince(at('2023-11-14T22:13:20.499999999Z'), since));
  t.ok(isSince(at('2023-11-14T22:13:20.500000000Z'), since));
  t.ok(isSince(at(''), since));
  t.ok(isSince(at('2023-11-14T22:13:20.000000000Z'), undefined));
});

t.test('the log clock never repeats or goes back', async (t) => {
  const clock = monotonicWallClockNs();
  const reads = Array.from({ length: 1000 }, () => clock());
  t.ok(reads.every((v, i) => i === 0 || v > reads[i - 1]));
});
