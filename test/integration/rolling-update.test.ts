import t, { type Test } from 'tap';
import path from 'node:path';
import { ApiClient } from '../../src/api/client';
import type { Service, Task } from '../../src/model/types';
import { eventually } from '../support/eventually';
import { DEMO_DIR, tempDir, TestCluster, clusterWait, type PsRow } from './cluster-fixture';
import { startLoad, type LoadReport } from './load-client';

/** Requests answered before a task is killed under load: about half a second of it. */
const LOAD_BEFORE_KILL = 150;
/**
 * The load must be real, not a handful of requests: each phase sends at least this many. Its rate is
 * reported, not asserted: on a loaded machine (CI runs two integration tests on two cores) it fell to
 * 187/s against the client's 300/s target, which says nothing of the mesh.
 */
const MIN_REQUESTS = 300;

interface PsJson extends PsRow {
  UpToDate: boolean;
  Pid: number | null;
  Health: string;
}

function checkLoad(t: Test, what: string, r: LoadReport): void {
  t.comment(`${what}: ${r.sent} requests at ${r.rate.toFixed(0)}/s, ${r.failed} failed, versions ${JSON.stringify([...r.versions])}`);
  t.equal(r.failed, 0, `${what}: zero failed requests${r.errors.length ? ` (${r.errors.join('; ')})` : ''}`);
  t.ok(r.sent >= MIN_REQUESTS, `${what}: the load sent ${MIN_REQUESTS}+ requests`);
}

async function converged(c: TestCluster, name: string, replicas: number): Promise<PsJson[]> {
  return eventually(async () => {
    const rows = await c.json<PsJson[]>('service', 'ps', name);
    const live = rows.filter((r) => r.DesiredState === 'Running' && r.CurrentState === 'Running' && r.UpToDate);
    return live.length === replicas ? live : undefined;
  }, `${name}: ${replicas} up-to-date running tasks`, clusterWait(60_000));
}

t.test('rolling updates and rollbacks lose no request', async (t) => {
  const c = new TestCluster(t, tempDir(t, 'rolling'), 14);
  await c.up(3);
  const hosts = [1, 2, 3].map((k) => c.address(k));
  const api = new ApiClient({ kind: 'unix', path: path.join(c.daemons[0].stateDir, 'shoal.sock') });
  t.teardown(() => api.close());
  const service = async (name: string) => JSON.parse((await c.cli('service', 'inspect', name)).stdout)[0] as Service;

  let r = await c.cli('service', 'create', '--name', 'rolling', '--replicas', '6', '-p', '18100:80', '--restart-delay', '1s',
    '--update-parallelism', '2', '--update-delay', '1s', '--update-monitor', '1s', '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
  t.equal(r.code, 0, `create: ${r.stderr}`);
  t.match(r.stdout, /verify: Service converged/, 'create waits and says the service converged');
  await converged(c, 'rolling', 6);

  await t.test('stop-first, parallelism 2, delay 1s', async (t) => {
    const load = startLoad(hosts, 18100);
    const u = await c.cli('service', 'update', '--env-add', 'VERSION=2', 'rolling');
    const report = await load.stop();
    t.equal(u.code, 0, `update exits 0: ${u.stderr}`);
    t.match(u.stdout, /overall progress: 6 out of 6 tasks/, 'progress counts the tasks');
    checkLoad(t, 'stop-first', report);
    const rows = await converged(c, 'rolling', 6);
    t.same(rows.map((x) => x.Slot).sort(), [1, 2, 3, 4, 5, 6], 'every slot runs the new spec');
    t.equal((await service('rolling')).updateStatus?.state, 'completed', 'UpdateStatus completed');
  });

  await t.test('start-first', async (t) => {
    const load = startLoad(hosts, 18100);
    const u = await c.cli('service', 'update', '--update-order', 'start-first', '--env-add', 'VERSION=3', 'rolling');
    const report = await load.stop();
    t.equal(u.code, 0, `update exits 0: ${u.stderr}`);
    checkLoad(t, 'start-first', report);
    t.ok((report.versions.get('3') ?? 0) > 0, 'the new version served requests');
    await converged(c, 'rolling', 6);
  });

  await t.test('one replica, start-first', async (t) => {
    r = await c.cli('service', 'create', '--name', 'solo', '-p', '18101:80', '--update-order', 'start-first', '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
    t.equal(r.code, 0, r.stderr);
    await converged(c, 'solo', 1);
    const load = startLoad(hosts, 18101);
    const u = await c.cli('service', 'update', '--env-add', 'VERSION=2', 'solo');
    const report = await load.stop();
    t.equal(u.code, 0, `update exits 0: ${u.stderr}`);
    checkLoad(t, 'single replica start-first', report);
    t.ok((report.versions.get('2') ?? 0) > 0, 'the new version served requests');
  });

  await t.test('failing health check with failure action rollback', async (t) => {
    const before = (await service('rolling')).spec;
    const load = startLoad(hosts, 18100);
    const u = await c.cli('service', 'update', '--env-add', 'VERSION=4', '--health-cmd', 'exit 1', '--health-interval', '200ms',
      '--health-timeout', '1s', '--health-retries', '1', '--update-failure-action', 'rollback', '--update-monitor', '3s', 'rolling');
    await eventually(async () => (await service('rolling')).updateStatus?.state === 'rollback_completed', 'rollback_completed', clusterWait(60_000));
    await converged(c, 'rolling', 6);
    const report = await load.stop();
    t.equal(u.code, 1, 'the update command reports the rollback as a failure');
    t.match(u.stderr, /rolled back/, `it says the update was rolled back: ${u.stderr.trim()}`);
    checkLoad(t, 'auto rollback', report);
    t.equal(report.versions.get('4') ?? 0, 0, 'no request reached an unhealthy new task');
    const after = await service('rolling');
    t.same(after.spec.task, before.task, 'the spec is back to the one before the update');
    const tasks = await api.call<Task[]>('GET', `/v1/tasks?service=${after.id}`);
    const tried = tasks.filter((x) => x.spec.env.VERSION === '4').length;
    t.ok(tried > 0 && tried <= 2, `the update stopped after the first batch (${tried} tasks of the new spec, parallelism 2)`);
  });

  await t.test('failure action pause, then update resumes', async (t) => {
    const u = await c.cli('service', 'update', '--env-add', 'VERSION=5', '--health-cmd', 'exit 1', '--health-interval', '200ms',
      '--health-timeout', '1s', '--health-retries', '1', '--update-failure-action', 'pause', '--update-monitor', '3s', 'rolling');
    t.equal(u.code, 1, 'a paused update exits 1');
    t.match(u.stderr, /update paused/, `with the reason: ${u.stderr.trim()}`);
    const paused = await service('rolling');
    t.equal(paused.updateStatus?.state, 'paused', 'UpdateStatus paused');
    t.ok(paused.updateStatus?.message, 'with a message');
    const resume = await c.cli('service', 'update', '--no-healthcheck', 'rolling');
    t.equal(resume.code, 0, `service update resumes and completes: ${resume.stderr}`);
    await converged(c, 'rolling', 6);
    t.equal((await service('rolling')).updateStatus?.state, 'completed');
  });

  await t.test('a killed task costs no request and is restarted', async (t) => {
    const rows = await converged(c, 'rolling', 6);
    const victim = rows.find((x) => x.Pid)!;
    const load = startLoad(hosts, 18100);
    // The kill must land while the load flows: wait for answers rather than a fixed half second.
    await eventually(() => load.answered() >= LOAD_BEFORE_KILL, `${LOAD_BEFORE_KILL} answered requests before the kill`);
    process.kill(victim.Pid!, 'SIGKILL');
    const back = await eventually(async () => {
      const now = await c.json<PsJson[]>('service', 'ps', 'rolling');
      const cur = now.find((x) => x.Slot === victim.Slot && x.DesiredState === 'Running' && x.CurrentState === 'Running');
      return cur && cur.ID !== victim.ID ? cur : undefined;
    }, 'slot restarted', clusterWait(30_000));
    const report = await load.stop();
    checkLoad(t, 'killed task', report);
    t.not(back.ID, victim.ID, `slot ${victim.Slot} runs a new task after the restart delay`);
  });

  await t.test('bad input: a clear error, nothing changed', async (t) => {
    const before = JSON.stringify(await service('rolling'));
    const cases: [string[], RegExp][] = [
      [['service', 'update', '--update-parallelism', '-1', 'rolling'], /invalid update parallelism -1/],
      [['service', 'update', '--update-monitor', '5 parsecs', 'rolling'], /invalid update monitor "5 parsecs"/],
      [['service', 'update', '--update-failure-action', 'explode', 'rolling'], /invalid update failure action "explode"/],
      [['service', 'update', '--constraint-add', 'node.flavour==vanilla', 'rolling'], /constraint/],
      [['service', 'rollback', 'solo2'], /not found/],
    ];
    for (const [args, re] of cases) {
      const res = await c.cli(...args);
      t.equal(res.code, 1, `${args.join(' ')}: exit 1`);
      t.equal(res.stderr.split('\n').filter(Boolean).length, 1, `one line: ${res.stderr.trim()}`);
      t.match(res.stderr, re);
    }
    r = await c.cli('service', 'create', '--name', 'fresh', '-d', '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
    t.equal(r.code, 0);
    const rb = await c.cli('service', 'rollback', 'fresh');
    t.equal(rb.code, 1, 'rollback without a previous spec fails');
    t.match(rb.stderr, /no previous spec/, rb.stderr.trim());
    t.equal(JSON.stringify(await service('rolling')), before, 'nothing changed');
  });
});
