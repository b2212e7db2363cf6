/** renewAt: a point between 50% and 80% of the validity window, picked by the random input. */
import t from 'tap';
import { renewAt, renewDelayMs } from '../../src/pki/renewal';

const DAY = 24 * 3600_000;
const from = new Date('2030-01-01T00:00:00Z');
const to = new Date(from.getTime() + 100 * DAY);

t.test('the window runs from 50% to 80% of the lifetime', async (t) => {
  const cases: [number, number][] = [
    [0, 50],
    [0.5, 65],
    [0.999999, 80],
    [1, 80],
    [-1, 50],
    [2, 80],
  ];
  for (const [random, day] of cases) t.equal(Math.round((renewAt(from, to, random).getTime() - from.getTime()) / DAY), day, `random ${random} -> day ${day}`);
});

t.test('the delay is from now, and zero once the time has passed', async (t) => {
  const cert = { notBefore: from, notAfter: to };
  t.equal(renewDelayMs(cert, from, 0), 50 * DAY);
  t.equal(renewDelayMs(cert, new Date(from.getTime() + 60 * DAY), 0), 0);
  t.equal(renewDelayMs(cert, new Date(from.getTime() + 60 * DAY), 0.5), 5 * DAY);
});

t.test('a degenerate window renews at once', async (t) => {
  t.equal(renewAt(to, from, 0.5).getTime(), to.getTime());
});
