import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { HealthChecker } from '../../../src/agent/health/health-checker';
import type { HealthStatus } from '../../../src/agent/health/health-state';
import type { ProbeTarget } from '../../../src/agent/health/probe';
import type { HealthCheck } from '../../../src/model/types';
import { eventually } from '../../support/eventually';
import { FakeClock } from '../../support/fake-clock';

const logger = pino({ level: 'silent' });
const INTERVAL_MS = 5;

const check: HealthCheck = { kind: 'tcp', intervalMs: INTERVAL_MS, timeoutMs: 100, retries: 2, startPeriodMs: 0 };
const target: ProbeTarget = { address: '127.0.0.1', port: 1, env: {}, cwd: '/' };

/**
 * A checker on a fake clock whose probes answer from a script, then keep
 * failing; records changes and probe targets. `until` polls with the clock
 * moving one interval per poll, so probes come as fast as the test looks.
 */
function scripted(
  t: Tap,
  results: boolean[],
  opts: { target?: () => ProbeTarget | undefined; registry?: Registry; clock?: FakeClock } = {},
) {
  const clock = opts.clock ?? new FakeClock();
  const changes: HealthStatus[] = [];
  let probes = 0;
  const checker = new HealthChecker(
    {
      now: () => clock.now(),
      timers: clock,
      logger,
      registry: opts.registry,
      probe: async () => ({ ok: results[probes++] ?? false, output: 'scripted' }),
    },
    { taskId: 't1', check, startedAt: clock.now(), target: opts.target ?? (() => target), onChange: (s) => changes.push(s) },
  );
  t.teardown(() => checker.stop());
  const until = (what: string, ok: () => boolean) => eventually(ok, what, { beforePoll: () => clock.advance(INTERVAL_MS) });
  return { checker, changes, clock, until, probes: () => probes };
}

type Tap = tap.Test;

t.test('reports starting -> healthy -> unhealthy, only on changes', async (t) => {
  const s = scripted(t, [true, true, false, false]);
  t.equal(s.checker.status, 'starting');
  s.checker.run();
  s.checker.run();
  await s.until('unhealthy', () => s.changes.includes('unhealthy'));
  s.checker.stop();
  t.same(s.changes, ['healthy', 'unhealthy']);
  t.equal(s.checker.status, 'unhealthy');
});

t.test('stop() ends probing; stop twice is safe', async (t) => {
  const s = scripted(t, [true]);
  s.checker.run();
  await s.until('healthy', () => s.changes.length === 1);
  s.checker.stop();
  s.checker.stop();
  const n = s.probes();
  // Ten intervals pass on the checker's clock, the event loop turning after each: a checker still scheduling would probe on every one.
  await s.clock.advanceSettling(INTERVAL_MS * 10, INTERVAL_MS);
  t.equal(s.clock.pending, 0, 'no timer left behind');
  t.ok(s.probes() <= n + 1, 'at most the probe under way finishes');
  t.same(s.changes, ['healthy']);
});

t.test('a task that is gone (no target) ends the checker without a report', async (t) => {
  let calls = 0;
  const s = scripted(t, [true], { target: () => (calls++ === 0 ? undefined : target) });
  s.checker.run();
  await s.until('target looked up', () => calls > 0);
  // As above: ten intervals on the checker's clock, in which a live checker would look the target up again.
  await s.clock.advanceSettling(INTERVAL_MS * 10, INTERVAL_MS);
  t.equal(s.clock.pending, 0, 'no timer left behind');
  t.equal(s.probes(), 0);
  t.equal(calls, 1);
  t.same(s.changes, []);
});

t.test('probes are counted by kind and result on the registry, shared by checkers', async (t) => {
  const registry = new Registry();
  const clock = new FakeClock();
  const a = scripted(t, [true, false], { registry, clock });
  const b = scripted(t, [true], { registry, clock });
  a.checker.run();
  b.checker.run();
  await a.until('two probes each', () => a.probes() >= 2 && b.probes() >= 2);
  a.checker.stop();
  b.checker.stop();
  const text = await registry.metrics();
  t.match(text, /shoal_agent_health_probes_total\{kind="tcp",result="ok"\} 2/);
  t.match(text, /shoal_agent_health_probes_total\{kind="tcp",result="fail"\} [1-9]/);
});
