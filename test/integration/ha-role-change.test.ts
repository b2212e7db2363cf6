/**
 * `node promote` and `node demote` of running nodes on a shared etcd, as real
 * daemons on 127.0.71.k: a worker promoted starts its manager part (API,
 * election) without restarting its tasks, can lead when the first manager is
 * killed, and a manager demoted stops its manager part and keeps its tasks.
 * The last manager cannot be demoted. A load through a published port runs
 * throughout and loses no request.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EtcdCluster } from '../support/etcd-cluster';
import { eventually } from '../support/eventually';
import { clusterWait, DEMO_DIR, nodesAt, runningTasks, tempDir, TestCluster } from './cluster-fixture';
import { startLoad } from './load-client';

const BLOCK = 71;
const DNS_PORT = 5371;
const PORT = 18171;

t.test('promote a worker, lose the first manager, demote it back: tasks run on, the last manager stays', async (t) => {
  const etcd = await EtcdCluster.start(1);
  t.teardown(() => etcd.stop());
  const c = new TestCluster(t, tempDir(t, 'roles'), BLOCK, DNS_PORT);
  c.start(1, undefined, ['--store', etcd.url]);
  await eventually(async () => (await c.cli('swarm', 'join-token', '-q', 'worker')).code === 0, 'the first manager', clusterWait());
  const workerToken = (await c.cli('swarm', 'join-token', '-q', 'worker')).stdout.trim();
  c.start(2, workerToken);
  c.start(3, workerToken);
  await eventually(async () => (await nodesAt(c, 1))?.filter((n) => n.status.state === 'ready').length === 3, '3 ready nodes', clusterWait(30_000));
  const create = await c.cli('service', 'create', '--name', 'web', '--replicas', '2', '--constraint', 'node.hostname!=node-1', '-p', `${PORT}:80`, '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
  t.equal(create.code, 0, `service create: ${create.stderr}`);
  const before = await eventually(async () => {
    const rows = await runningTasks(c, 'web');
    return rows.length === 2 ? rows.map((r) => r.ID).sort() : undefined;
  }, '2 web tasks running', clusterWait());
  const load = startLoad([c.address(3)], PORT);
  t.teardown(() => load.stop());
  await eventually(() => load.answered() > 100, 'the load is flowing');

  t.equal((await c.cliAt(2, 'node', 'ls')).code, 1, 'a worker does not serve node ls');
  const promote = await c.cli('node', 'promote', 'node-2');
  t.equal(promote.code, 0, `node promote: ${promote.stderr}`);
  t.equal(promote.stdout.trim(), 'Node node-2 promoted to a manager in the swarm.');
  const promoted = await eventually(async () => {
    const n = await nodesAt(c, 2);
    return n?.find((x) => x.hostname === 'node-2')?.managerStatus?.reachability === 'reachable' ? n : undefined;
  }, 'node-2 serving as a manager', clusterWait(30_000));
  t.same(promoted.filter((n) => n.role === 'manager').map((n) => n.hostname).sort(), ['node-1', 'node-2'], 'two managers');
  t.match(JSON.parse(readFileSync(path.join(c.dir, 'node-2', 'swarm.json'), 'utf8')), { role: 'manager', managerAddr: `${c.address(2)}:2377`, store: { url: etcd.url } }, 'node-2 remembers it is a manager');
  t.same((await runningTasks(c, 'web')).map((r) => r.ID).sort(), before, 'no task restarted');
  const keyFile = (k: number) => path.join(c.dir, `node-${k}`, 'manager', 'secrets.key');
  t.equal(readFileSync(keyFile(2), 'utf8'), readFileSync(keyFile(1), 'utf8'), "the promoted manager holds the managers' secrets key");

  await c.kill(1, 'SIGKILL');
  await eventually(async () => (await nodesAt(c, 2))?.find((x) => x.managerStatus?.leader)?.hostname === 'node-2', 'node-2 leading', { timeoutMs: 10_000, pollMs: 200, retryErrors: true });
  t.pass('the promoted node leads within 10 s of the first manager is killed');
  const scale = await c.cliAt(2, 'service', 'scale', 'web=3');
  t.equal(scale.code, 0, `service scale through the promoted node: ${scale.stderr}`);

  c.restart(1);
  await eventually(async () => (await nodesAt(c, 2))?.find((x) => x.hostname === 'node-1')?.status.state === 'ready', 'node-1 is back', clusterWait(30_000));
  const demote = await c.cliAt(2, 'node', 'demote', 'node-1');
  t.equal(demote.code, 0, `node demote: ${demote.stderr}`);
  await eventually(async () => (await c.cliAt(1, 'node', 'ls')).code === 1, 'node-1 stops serving manager calls', clusterWait());
  const after = await eventually(async () => {
    const n = await nodesAt(c, 2);
    return n?.find((x) => x.hostname === 'node-1')?.role === 'worker' && n.every((x) => x.status.state === 'ready') ? n : undefined;
  }, 'node-1 a ready worker', clusterWait());
  t.same(after.filter((n) => n.role === 'manager').map((n) => n.hostname), ['node-2'], 'one manager left');
  const state = JSON.parse(readFileSync(path.join(c.dir, 'node-1', 'swarm.json'), 'utf8')) as { role: string; store?: unknown };
  t.equal(state.role, 'worker', 'node-1 remembers it is a worker');
  t.notOk(state.store, 'and forgets the etcd');
  t.notOk(existsSync(keyFile(1)), 'and holds no secrets key any more');

  const last = await c.cliAt(2, 'node', 'demote', 'node-2');
  t.equal(last.code, 1, 'demoting the last manager is refused');
  t.equal(last.stderr.trim().split('\n').length, 1, `with one line: ${last.stderr.trim()}`);
  t.match(last.stderr, /only manager/);

  await eventually(async () => {
    const r = await c.cliAt(2, 'service', 'ps', 'web', '--format', 'json', '-f', 'desired-state=running');
    return r.code === 0 && (JSON.parse(r.stdout) as { CurrentState: string }[]).filter((x) => x.CurrentState === 'Running').length === 3;
  }, '3 web tasks', clusterWait());
  const report = await load.stop();
  t.ok(report.ok > 500, `${report.ok} requests answered`);
  t.equal(report.failed, 0, `no request failed through promote, leader kill and demote (${report.errors.slice(0, 3).join('; ')})`);
});
