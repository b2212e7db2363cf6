import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { Agent, DRAIN_DELAY_MS, UNHEALTHY_MESSAGE, type AgentClient, type AgentView } from '../../src/agent/agent';
import { ProcessExecutor } from '../../src/agent/executor/process-executor';
import type { StatusRequest } from '../../src/api/contract';
import { stateRank, type HealthCheck, type Task, type TaskStatus } from '../../src/model/types';
import { eventually } from '../support/eventually';
import { isGone, logger, script, tmpdir, watched, type Tap } from './executor/fixtures/harness';
import { makeTask } from './executor/fixtures/task';

const NODE_ID = 'node-1';

/** The cluster view as the agent sees it: tasks set by the test, changed by the fake dispatcher. */
class FakeView implements AgentView {
  tasks = new Map<string, Task>();
  synced = true;
  private listeners: (() => void)[] = [];
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }
  /** Puts (or with undefined, deletes) a task and tells the listeners, as a watch event would. */
  put(id: string, task: Task | undefined): void {
    if (task) this.tasks.set(id, task);
    else this.tasks.delete(id);
    setImmediate(() => this.listeners.forEach((fn) => fn()));
  }
}

/** The manager's dispatcher, reduced to what the agent calls: it records reports and applies them as the real one does. */
class FakeDispatcher implements AgentClient {
  reports: { taskId: string; status: TaskStatus }[] = [];
  /** false: reports are recorded but the view does not see them, as when the watch lags. */
  applyToView = true;
  constructor(private readonly view: FakeView) {}
  async call<T>(_method: string, urlPath: string, body?: unknown): Promise<T> {
    if (urlPath === '/v1/dispatcher/register') return { nodeId: NODE_ID, index: 1, heartbeatPeriodMs: 60_000 } as T;
    if (urlPath === '/v1/dispatcher/heartbeat') return { periodMs: 60_000 } as T;
    if (urlPath === '/v1/dispatcher/status') {
      for (const u of (body as StatusRequest).updates) {
        this.reports.push(u);
        const task = this.view.tasks.get(u.taskId);
        // States only move forward, and the whole status is replaced: as the dispatcher does.
        if (this.applyToView && task && stateRank(u.status.state) >= stateRank(task.status.state)) this.view.put(u.taskId, { ...task, status: u.status });
      }
      return {} as T;
    }
    throw new Error(`unexpected call ${urlPath}`);
  }
  /**
   * Reports of one task from running on, as `state` or `state/health`. The
   * agent merges reports made before a flush, so earlier states (accepted,
   * starting) may or may not show up on their own.
   */
  trail(taskId: string): string[] {
    return this.reports.filter((r) => r.taskId === taskId && stateRank(r.status.state) >= stateRank('running')).map((r) => (r.status.health ? `${r.status.state}/${r.status.health}` : r.status.state));
  }
  last(taskId: string): TaskStatus | undefined {
    return this.reports.filter((r) => r.taskId === taskId).at(-1)?.status;
  }
}

/** A drain sleep the test releases by hand, recording what it was asked to wait. */
class Gate {
  asked: number[] = [];
  private releases: (() => void)[] = [];
  sleep = (ms: number): Promise<void> => {
    this.asked.push(ms);
    return new Promise((resolve) => this.releases.push(resolve));
  };
  release(): void {
    for (const r of this.releases.splice(0)) r();
  }
}

/** An agent with a real executor on a fresh state dir, a fake view and dispatcher; stopped when the subtest ends. */
async function agentHarness(t: Tap, opts: { drainDelayMs?: number } = {}) {
  const view = new FakeView();
  const client = new FakeDispatcher(view);
  const gate = new Gate();
  const stateDir = tmpdir(t);
  const executor = new ProcessExecutor({ logger }, { stateDir, portLockDir: path.join(stateDir, 'port-locks') });
  executor.onEvent((e) => {
    if (e.pid) watched.add(e.pid);
  });
  const agent = new Agent(
    { client, view, executor, logger, now: Date.now, onRegistered: () => undefined, sleep: gate.sleep },
    {
      registration: { hostname: 'n1', address: '127.0.0.1', role: 'worker', platform: { os: 'linux', arch: 'x64' }, resources: { nanoCpus: 1e9, memoryBytes: 1 << 30 }, ports: { dns: 53, metrics: 9100 } },
      dnsAddress: '127.0.0.1:53',
      drainDelayMs: opts.drainDelayMs,
    },
  );
  t.teardown(async () => {
    gate.release();
    await agent.stop();
    await executor.close();
  });
  await agent.run();
  const assign = (task: Task) => view.put(task.id, { ...task, nodeId: NODE_ID });
  const setDesired = (id: string, desiredState: Task['desiredState']) => view.put(id, { ...view.tasks.get(id)!, desiredState });
  const reported = (id: string, what: string) => eventually(() => client.trail(id).includes(what), `${id} reported ${what}`);
  const logLine = (id: string, text: string) => eventually(async () => (await executor.logs(id).then((rs) => rs.map((r) => r.l).join('\n')).catch(() => '')).includes(text), `"${text}" in the log of ${id}`);
  return { view, client, gate, executor, agent, assign, setDesired, reported, logLine };
}

/** A task that serves HTTP on its PORT (/health answers 200) and logs a SIGTERM before exiting. */
const httpServer = script(`
  const http = require('node:http');
  process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); });
  http.createServer((req, res) => { res.writeHead(req.url === '/health' ? 200 : 404); res.end(); })
    .listen(Number(process.env.PORT), process.env.SHOAL_TASK_ADDR, () => console.log('listening'));
`);
/** A task that waits, logging a SIGTERM before exiting; it logs "ready" once it handles SIGTERM. */
const sleeper = script(`process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); }); console.log('ready'); setInterval(() => {}, 1000);`);

const check = (over: Partial<HealthCheck>): HealthCheck => ({ kind: 'cmd', intervalMs: 20, timeoutMs: 2_000, retries: 2, startPeriodMs: 0, ...over });
const pidOf = (h: { client: FakeDispatcher }, id: string) => h.client.reports.find((r) => r.taskId === id && r.status.pid)!.status.pid!;

t.test('a task without a check runs with no health; the drain delay defaults to DRAIN_DELAY_MS', async (t) => {
  const h = await agentHarness(t);
  h.assign(makeTask('plain', sleeper));
  await h.reported('plain', 'running');
  t.same(h.client.trail('plain'), ['running']);
  t.equal(h.client.last('plain')!.health, undefined);
  h.setDesired('plain', 'shutdown');
  await eventually(() => h.gate.asked.length > 0, 'drain asked');
  t.same(h.gate.asked, [DRAIN_DELAY_MS]);
  h.gate.release();
  await h.reported('plain', 'shutdown');
});

t.test('http check: running/starting, then running/healthy with the rest of the status kept', async (t) => {
  const h = await agentHarness(t);
  const task = makeTask('web-1', httpServer, { targetPorts: [{ protocol: 'tcp', port: 80 }] }, {
    // The start period covers node's start-up: failures before the server listens do not count.
    healthcheck: check({ kind: 'http', path: '/health', startPeriodMs: 30_000 }),
  });
  h.assign(task);
  await h.reported('web-1', 'running/healthy');
  t.same(h.client.trail('web-1'), ['running/starting', 'running/healthy']);
  const [starting, healthy] = h.client.reports.filter((r) => r.taskId === 'web-1' && r.status.state === 'running').map((r) => r.status);
  t.not(healthy.ports?.['tcp/80'], 80, 'a host-wide port was reserved instead of the target');
  t.same({ ...healthy, health: 'starting' }, starting, 'only health changed: message, pid, ports and since are kept');
  t.equal(h.view.tasks.get('web-1')!.status.health, 'healthy');
});

t.test('a task that turns unhealthy is reported unhealthy, drained, stopped and failed with task: unhealthy', async (t) => {
  const h = await agentHarness(t, { drainDelayMs: 1234 });
  const dir = tmpdir(t);
  fs.writeFileSync(path.join(dir, 'ok'), '');
  const task = makeTask('web-2', sleeper, {}, { workdir: dir, stopGracePeriodMs: 5_000, healthcheck: check({ command: ['test -e ok'] }) });
  h.assign(task);
  await h.reported('web-2', 'running/healthy');
  await h.logLine('web-2', 'ready');
  fs.rmSync(path.join(dir, 'ok'));
  await h.reported('web-2', 'running/unhealthy');
  await eventually(() => h.gate.asked.length > 0, 'drain asked');
  t.same(h.gate.asked, [1234], 'the task was routed, so it drains first');
  const pid = pidOf(h, 'web-2');
  t.notOk(isGone(pid), 'still running while draining');
  t.notOk(h.client.trail('web-2').some((s) => s.startsWith('failed')), 'not stopped before the drain ends');
  h.gate.release();
  await eventually(() => h.client.last('web-2')?.state === 'failed', 'web-2 failed');
  const last = h.client.last('web-2')!;
  t.match(last, { state: 'failed', message: UNHEALTHY_MESSAGE, err: UNHEALTHY_MESSAGE, health: 'unhealthy' });
  t.same(h.client.trail('web-2'), ['running/starting', 'running/healthy', 'running/unhealthy', 'failed/unhealthy']);
  t.ok(isGone(pid), 'process gone');
  t.match((await h.executor.logs('web-2')).map((r) => r.l).join('\n'), /got SIGTERM/, 'stopped with SIGTERM');
});

t.test('a task never healthy goes unhealthy and fails without a drain (no mesh ever routed to it)', async (t) => {
  const h = await agentHarness(t);
  h.assign(makeTask('web-3', sleeper, {}, { healthcheck: check({ command: ['exit 1'] }) }));
  await eventually(() => h.client.last('web-3')?.state === 'failed', 'web-3 failed');
  // running/unhealthy may merge into the failed report when both come before a flush.
  t.ok(isSubsequence(h.client.trail('web-3'), ['running/starting', 'running/unhealthy', 'failed/unhealthy']), h.client.trail('web-3').join(' '));
  t.equal(h.client.trail('web-3').at(-1), 'failed/unhealthy');
  t.equal(h.client.last('web-3')!.message, UNHEALTHY_MESSAGE);
  t.same(h.gate.asked, []);
});

t.test('desired state leaving running: the drain delay passes before SIGTERM', async (t) => {
  const h = await agentHarness(t, { drainDelayMs: 750 });
  h.assign(makeTask('web-4', sleeper, {}, { stopGracePeriodMs: 5_000 }));
  await h.reported('web-4', 'running');
  await h.logLine('web-4', 'ready');
  const pid = pidOf(h, 'web-4');
  h.setDesired('web-4', 'shutdown');
  await eventually(() => h.gate.asked.length > 0, 'drain asked');
  t.same(h.gate.asked, [750]);
  // More view changes while draining must not start a second stop.
  h.setDesired('web-4', 'shutdown');
  await new Promise((r) => setImmediate(r));
  t.equal(h.gate.asked.length, 1);
  t.notOk(isGone(pid), 'untouched while draining');
  t.notMatch((await h.executor.logs('web-4')).map((r) => r.l).join('\n'), /got SIGTERM/);
  h.gate.release();
  await h.reported('web-4', 'shutdown');
  t.ok(isGone(pid));
  t.match((await h.executor.logs('web-4')).map((r) => r.l).join('\n'), /got SIGTERM/);
});

t.test('a task deleted from the store drains, stops and has its files removed', async (t) => {
  const h = await agentHarness(t);
  h.assign(makeTask('web-5', sleeper));
  await h.reported('web-5', 'running');
  const pid = pidOf(h, 'web-5');
  h.view.put('web-5', undefined);
  await eventually(() => h.gate.asked.length > 0, 'drain asked');
  t.notOk(isGone(pid), 'untouched while draining');
  h.gate.release();
  await eventually(() => isGone(pid), 'process gone');
  await eventually(async () => {
    try {
      await h.executor.logs('web-5');
      return false;
    } catch {
      return true;
    }
  }, 'logs removed');
  t.pass('removed');
});

t.test('a task shut down before it started is not run, nor drained', async (t) => {
  const h = await agentHarness(t);
  // The desired shutdown lands with the assignment: no mesh could ever have routed to it.
  h.assign(makeTask('web-6', sleeper, { desiredState: 'shutdown' }));
  await h.reported('web-6', 'shutdown');
  t.equal(h.client.last('web-6')!.message, 'shutdown before start');
  t.notOk(h.client.reports.some((r) => r.taskId === 'web-6' && r.status.pid), 'never spawned');
  t.same(h.gate.asked, []);
});

t.test('a view lagging behind the reports never turns a task that ended into a lost or unstarted one', async (t) => {
  const h = await agentHarness(t);
  h.client.applyToView = false;
  h.assign(makeTask('quick', script('setTimeout(() => {}, 50)')));
  h.assign(makeTask('stopped', sleeper));
  await h.reported('quick', 'complete');
  await h.reported('stopped', 'running');
  h.setDesired('stopped', 'shutdown');
  await eventually(() => h.gate.asked.length > 0, 'drain asked');
  h.gate.release();
  await h.reported('stopped', 'shutdown');
  t.equal(h.view.tasks.get('quick')!.status.state, 'assigned', 'the view still shows the old state');
  // A later change makes the agent reconcile against that stale view; a new task shows when it did.
  h.assign(makeTask('barrier', sleeper));
  await h.reported('barrier', 'running');
  t.same(h.client.last('quick'), { ...h.client.last('quick'), state: 'complete', message: 'finished' });
  t.equal(h.client.last('stopped')!.message, 'shutdown');
  t.notOk(h.client.reports.some((r) => /lost|before start/.test(r.status.message)), 'no lost or shutdown-before-start report');
});

/** Whether every item of `got` appears in `all`, in the same order. */
function isSubsequence(got: string[], all: string[]): boolean {
  let i = 0;
  for (const g of got) {
    while (i < all.length && all[i] !== g) i++;
    if (i++ >= all.length) return false;
  }
  return true;
}
