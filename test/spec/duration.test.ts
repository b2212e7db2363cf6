import t from 'tap';
import { formatDuration, parseDuration } from '../../src/spec/duration';

t.test('Go-style durations', async (t) => {
  const ok: [string, number][] = [['0', 0], ['10s', 10_000], ['500ms', 500], ['1h2m3s', 3_723_000], ['1.5s', 1_500], ['2m', 120_000], ['100us', 0]];
  for (const [s, ms] of ok) t.equal(parseDuration(s), ms, s);
  for (const s of ['5 parsecs', '10', 's', '1x', '', '-1s', '1s2']) t.throws(() => parseDuration(s, 'delay'), /invalid delay/, JSON.stringify(s));
  t.equal(formatDuration(0), '0s');
  t.equal(formatDuration(90_000), '1m30s');
  t.equal(formatDuration(250), '250ms');
  t.equal(formatDuration(3_600_000), '1h');
});
