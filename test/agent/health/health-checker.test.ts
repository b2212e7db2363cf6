import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { HealthChecker } from '../../../src/agent/health/health-checker';
import type { HealthStatus } from '../../../src/agent/health/health-state';
import type { ProbeTarget } from '../../../src/agent/health/probe';
import type { HealthCheck } from '../../../src/model/types';

const logger = pino({ level: 'silent' });
const WAIT_MS = 5_000;
const INTERVAL_MS = 5;

const check: HealthCheck = { kind: 'tcp', intervalMs: INTERVAL_MS, timeoutMs: 100, retries: 2, startPeriodMs: 0 };
const target: ProbeTarget = { address: '127.0.0.1', port: 1, env: {}, cwd: '/' };

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A checker whose probes answer from a script, then keep failing; records changes and probe targets. */
function scripted(t: Tap, results: boolean[], opts: { target?: () => ProbeTarget | undefined; registry?: Registry } = {}) {
  const changes: HealthStatus[] = [];
  let probes = 0;
  const checker = new HealthChecker(
    {
      now: Date.now,
      logger,
      registry: opts.registry,
      probe: async () => ({ ok: results[probes++] ?? false, output: 'scripted' }),
    },
    { taskId: 't1', check, startedAt: Date.now(), target: opts.target ?? (() => target), onChange: (s) => changes.push(s) },
  );
  t.teardown(() => checker.stop());
  return { checker, changes, probes: () => probes };
}

type Tap = tap.Test;

t.test('reports starting -> healthy -> unhealthy, only on changes', async (t) => {
  const s = scripted(t, [true, true, false, false]);
  t.equal(s.checker.status, 'starting');
  s.checker.run();
  s.checker.run();
  await until('unhealthy', () => s.changes.includes('unhealthy'));
  s.checker.stop();
  t.same(s.changes, ['healthy', 'unhealthy']);
  t.equal(s.checker.status, 'unhealthy');
});

t.test('stop() ends probing; stop twice is safe', async (t) => {
  const s = scripted(t, [true]);
  s.checker.run();
  await until('healthy', () => s.changes.length === 1);
  s.checker.stop();
  s.checker.stop();
  const n = s.probes();
  await new Promise((r) => setTimeout(r, INTERVAL_MS * 10));
  t.ok(s.probes() <= n + 1, 'at most the probe under way finishes');
  t.same(s.changes, ['healthy']);
});

t.test('a task that is gone (no target) ends the checker without a report', async (t) => {
  let calls = 0;
  const s = scripted(t, [true], { target: () => (calls++ === 0 ? undefined : target) });
  s.checker.run();
  await until('target looked up', () => calls > 0);
  await new Promise((r) => setTimeout(r, INTERVAL_MS * 10));
  t.equal(s.probes(), 0);
  t.equal(calls, 1);
  t.same(s.changes, []);
});

t.test('probes are counted by kind and result on the registry, shared by checkers', async (t) => {
  const registry = new Registry();
  const a = scripted(t, [true, false], { registry });
  const b = scripted(t, [true], { registry });
  a.checker.run();
  b.checker.run();
  await until('two probes each', () => a.probes() >= 2 && b.probes() >= 2);
  a.checker.stop();
  b.checker.stop();
  const text = await registry.metrics();
  t.match(text, /shoal_agent_health_probes_total\{kind="tcp",result="ok"\} 2/);
  t.match(text, /shoal_agent_health_probes_total\{kind="tcp",result="fail"\} [1-9]/);
});
