import t from 'tap';
import { parseSince } from '../../src/cli/log-since';

const NOW = Date.parse('2024-05-06T07:08:09.000Z');
const local = (s: string) => new Date(Date.parse(s)).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');

const ok: [string, string][] = [
  ['10m', '2024-05-06T06:58:09.000000000Z'],
  ['1h30m', '2024-05-06T05:38:09.000000000Z'],
  ['1.5s', '2024-05-06T07:08:07.500000000Z'],
  ['1700000000', '2023-11-14T22:13:20.000000000Z'],
  ['1700000000.123456789', '2023-11-14T22:13:20.123456789Z'],
  ['1700000000.5', '2023-11-14T22:13:20.500000000Z'],
  ['0', '1970-01-01T00:00:00.000000000Z'],
  ['2024-05-06T07:00:00Z', '2024-05-06T07:00:00.000000000Z'],
  ['2024-05-06T07:00:00.000000001Z', '2024-05-06T07:00:00.000000001Z'],
  ['2024-05-06T09:00:00+02:00', '2024-05-06T07:00:00.000000000Z'],
  ['2024-05-06T07:00:00', local('2024-05-06T07:00:00')],
  ['2024-05-06', local('2024-05-06T00:00:00')],
];
for (const [v, want] of ok) t.equal(parseSince(v, NOW), want, v);

for (const bad of ['yesterday', '', '-10m', '10 minutes', '2024-13-45T00:00:00Z', '1700000000.1234567891', '5parsecs']) {
  t.throws(() => parseSince(bad, NOW), { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: /^invalid since/ }, JSON.stringify(bad));
}
