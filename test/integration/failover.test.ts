import t from 'tap';
import { eventually } from '../support/eventually';
import { collectHttpTasks, DEMO_DIR, httpGet, runningTasks, tempDir, TestCluster, clusterWait, type PsRow } from './cluster-fixture';

const PORT = 18081;
/** The bound: a dead node's tasks run elsewhere within 10 s. */
const FAILOVER_BOUND_MS = 10_000;

t.test('a node killed with SIGKILL: its tasks move and leave the mesh; a restarted manager resumes', async (t) => {
  const c = new TestCluster(t, tempDir(t, 'failover'), 11);
  await c.up(3);
  const r = await c.cli('service', 'create', '--name', 'api', '--replicas', '6', '-p', `${PORT}:80`, '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
  t.equal(r.code, 0, r.stderr);
  t.equal((await c.cli('service', 'create', '--name', 'agentd', '--mode', 'global', '-w', DEMO_DIR, '--', 'node', 'demo/web.js')).code, 0);
  const globalTasks = await eventually(async () => {
    const rt = await runningTasks(c, 'agentd');
    return rt.length === 3 ? rt : undefined;
  }, 'a global task on each node', clusterWait());
  t.same(globalTasks.map((x) => x.Node).sort(), ['node-1', 'node-2', 'node-3'], 'global service: one task per node');
  const before = await eventually(async () => ((await runningTasks(c, 'api')).length === 6 ? runningTasks(c, 'api') : undefined), '6 running', clusterWait());
  const onDead = before.filter((x) => x.Node === 'node-3');
  t.equal(onDead.length, 2, 'node-3 runs 2 of the 6 tasks');

  await c.kill(3, 'SIGKILL');
  const killedAt = Date.now();
  const after = await eventually(async () => {
      const rt = await runningTasks(c, 'api');
      return rt.length === 6 && rt.every((x) => x.Node !== 'node-3') ? rt : undefined;
    }, '6 running on the surviving nodes', clusterWait(FAILOVER_BOUND_MS));
  t.comment(`tasks of the dead node running elsewhere after ${Date.now() - killedAt} ms`);
  t.equal(after.length, 6);
  const deadIds = new Set(onDead.map((x) => x.ID));
  const liveIds = new Set(after.map((x) => x.ID));
  for (const k of [1, 2]) {
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add(JSON.parse((await httpGet(c.address(k), PORT)).body).task);
    t.same([...seen].filter((id) => deadIds.has(id)), [], `node-${k}: no task of the dead node in rotation`);
    t.ok([...seen].every((id) => liveIds.has(id)), `node-${k}: every answer from a running task`);
  }
  const nodes = await c.json<{ hostname: string; status: { state: string } }[]>('node', 'ls');
  t.equal(nodes.find((n) => n.hostname === 'node-3')?.status.state, 'down', 'node-3 is down');
  const globalAfter = await eventually(async () => {
    const rows = await c.json<PsRow[]>('service', 'ps', 'agentd');
    return rows.every((x) => x.Node !== 'node-3' || x.DesiredState !== 'Running') ? runningTasks(c, 'agentd') : undefined;
  }, 'global task of node-3 gone', clusterWait());
  t.same(globalAfter.map((x) => x.Node).sort(), ['node-1', 'node-2'], 'global service: the dead node\'s task is not replaced elsewhere');

  // Restart the manager: services and tasks come back from the store, no slot runs twice.
  // Its own tasks die with it; until its agent reports them lost the store still says
  // they run, so wait for 6 running tasks none of which is one the killed manager ran.
  const diedWithManager = new Set([...after, ...globalAfter].filter((x) => x.Node === 'node-1').map((x) => x.ID));
  await c.kill(1, 'SIGKILL');
  c.restart(1);
  const back = await eventually(async () => {
    const rt = await runningTasks(c, 'api');
    return rt.length === 6 && rt.every((x) => !diedWithManager.has(x.ID)) ? rt : undefined;
  }, 'manager back with 6 running tasks, its lost ones replaced', clusterWait(30_000));
  const services = await c.json<{ Name: string }[]>('service', 'ls');
  t.same(services.map((s) => s.Name).sort(), ['agentd', 'api'], 'the services came back from the store');
  const rows = await c.json<PsRow[]>('service', 'ps', 'api');
  const liveSlots = rows.filter((x) => x.DesiredState === 'Running').map((x) => x.Slot).sort();
  t.same(liveSlots, [1, 2, 3, 4, 5, 6], 'exactly one task per slot wants to run: no duplicates');
  t.equal(new Set(back.map((x) => x.Slot)).size, 6, 'six distinct slots running');
  const seen = await collectHttpTasks(c.address(2), PORT, new Set(back.map((x) => x.ID)));
  t.same([...seen].sort(), back.map((x) => x.ID).sort(), 'the mesh serves the tasks after the manager restart');

  // A node that joins later gets a task of the global service.
  const token = (await c.cli('swarm', 'join-token', '-q', 'worker')).stdout.trim();
  c.start(4, token);
  const withNew = await eventually(async () => {
    const rt = await runningTasks(c, 'agentd');
    return rt.some((x) => x.Node === 'node-4') && rt.every((x) => !diedWithManager.has(x.ID)) && rt.length === 3 ? rt : undefined;
  }, 'a global task on the new node, and the manager\'s lost one replaced', clusterWait());
  t.same(withNew.map((x) => x.Node).sort(), ['node-1', 'node-2', 'node-4'], 'global service: the node that joined later runs one');
});
