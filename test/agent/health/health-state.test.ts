import t from 'tap';
import { afterProbe, effectiveRetries, initialHealth, type HealthState, type HealthStatus } from '../../../src/agent/health/health-state';
import type { HealthCheck } from '../../../src/model/types';

const check = (over: Partial<HealthCheck> = {}): HealthCheck => ({
  kind: 'cmd',
  command: ['true'],
  intervalMs: 10,
  timeoutMs: 5,
  retries: 3,
  startPeriodMs: 0,
  ...over,
});

interface Case {
  name: string;
  check: HealthCheck;
  /** Probe results, each with the time it ended (task started at 0). */
  probes: [at: number, ok: boolean][];
  /** Status after each probe. */
  want: HealthStatus[];
  /** Streak after the last probe. */
  streak: number;
}

const cases: Case[] = [
  {
    name: 'starting until the first success, then healthy',
    check: check(),
    probes: [[10, true], [20, true]],
    want: ['healthy', 'healthy'],
    streak: 0,
  },
  {
    name: 'retries failures in a row make a starting task unhealthy (no start period)',
    check: check({ retries: 3 }),
    probes: [[10, false], [20, false], [30, false]],
    want: ['starting', 'starting', 'unhealthy'],
    streak: 3,
  },
  {
    name: 'failures inside the start period do not count',
    check: check({ retries: 2, startPeriodMs: 25 }),
    probes: [[10, false], [20, false], [30, false], [40, false]],
    want: ['starting', 'starting', 'starting', 'unhealthy'],
    streak: 2,
  },
  {
    name: 'a success inside the start period ends it: the next failures count at once',
    check: check({ retries: 2, startPeriodMs: 1_000 }),
    probes: [[10, true], [20, false], [30, false]],
    want: ['healthy', 'healthy', 'unhealthy'],
    streak: 2,
  },
  {
    name: 'a healthy task stays healthy until retries failures in a row',
    check: check({ retries: 3 }),
    probes: [[10, true], [20, false], [30, false]],
    want: ['healthy', 'healthy', 'healthy'],
    streak: 2,
  },
  {
    name: 'recovery: a success clears the streak before it reaches retries',
    check: check({ retries: 3 }),
    probes: [[10, true], [20, false], [30, false], [40, true], [50, false], [60, false]],
    want: ['healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'healthy'],
    streak: 2,
  },
  {
    name: 'an unhealthy task becomes healthy again on a success (Docker semantics)',
    check: check({ retries: 1 }),
    probes: [[10, false], [20, false], [30, true]],
    want: ['unhealthy', 'unhealthy', 'healthy'],
    streak: 0,
  },
  {
    name: 'retries 0 means the default 3, never "never unhealthy"',
    check: check({ retries: 0 }),
    probes: [[10, false], [20, false], [30, false]],
    want: ['starting', 'starting', 'unhealthy'],
    streak: 3,
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    let s: HealthState = initialHealth(c.check, 0);
    t.equal(s.status, 'starting');
    t.equal(s.nextProbeAt, c.check.intervalMs, 'first probe one interval after start');
    const got: HealthStatus[] = [];
    for (const [at, ok] of c.probes) {
      s = afterProbe(s, c.check, ok, at);
      t.equal(s.nextProbeAt, at + c.check.intervalMs, 'next probe one interval after this one ended');
      got.push(s.status);
    }
    t.same(got, c.want);
    t.equal(s.failingStreak, c.streak);
  });
}

t.test('afterProbe does not mutate its input', async (t) => {
  const s = initialHealth(check(), 0);
  const copy = { ...s };
  afterProbe(s, check(), false, 10);
  t.same(s, copy);
});

t.test('effectiveRetries', async (t) => {
  t.equal(effectiveRetries(check({ retries: 5 })), 5);
  t.equal(effectiveRetries(check({ retries: 0 })), 3);
  t.equal(effectiveRetries(check({ retries: -1 })), 3);
});
