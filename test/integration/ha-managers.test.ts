/**
 * Managers on a real etcd cluster (3 members) and 3 managers + 2 workers as
 * real daemons on 127.0.67.k: SIGKILL the leading manager while a load runs
 * through a worker's published port. No request fails (the data plane never
 * waits on the control plane), another manager leads within 10 s, `service
 * scale` works against the survivors, and the killed manager comes back as
 * a follower and catches up. Then etcd loses quorum: writes fail with one
 * line, the mesh keeps serving, and writes resume when quorum returns; an
 * etcd member killed during a burst of creates loses none it acknowledged.
 */
import path from 'node:path';
import t from 'tap';
import { ApiClient } from '../../src/api/client';
import { EtcdCluster } from '../support/etcd-cluster';
import { eventually } from '../support/eventually';
import { clusterWait, DEMO_DIR, nodesAt, runningTasks, tempDir, TestCluster } from './cluster-fixture';
import { startLoad } from './load-client';

const BLOCK = 67;
const DNS_PORT = 5367;
const PORT = 18097;
/** The bound on electing a new leader. */
const NEW_LEADER_BOUND_MS = 10_000;

t.test('lose the leading manager: no request fails, another leads, the swarm can still be changed', async (t) => {
  const etcd = await EtcdCluster.start(3);
  t.teardown(() => etcd.stop());
  const c = new TestCluster(t, tempDir(t, 'ha'), BLOCK, DNS_PORT);
  const store = ['--store', etcd.url];
  c.start(1, undefined, store);
  await eventually(async () => (await c.cli('swarm', 'join-token', '-q', 'manager')).code === 0, 'the first manager', clusterWait());
  const managerToken = (await c.cli('swarm', 'join-token', '-q', 'manager')).stdout.trim();
  const workerToken = (await c.cli('swarm', 'join-token', '-q', 'worker')).stdout.trim();
  c.start(2, managerToken, store);
  c.start(3, managerToken, store);
  c.start(4, workerToken);
  c.start(5, workerToken);
  const nodes = await eventually(async () => {
    const n = await nodesAt(c, 1);
    return n && n.length === 5 && n.every((x) => x.status.state === 'ready') ? n : undefined;
  }, '5 ready nodes', clusterWait(30_000));
  const managers = nodes.filter((n) => n.role === 'manager');
  t.equal(managers.length, 3, 'three managers');
  t.equal(managers.filter((n) => n.managerStatus?.leader).length, 1, 'one of them leads');
  t.same(managers.filter((n) => !n.managerStatus?.leader).map((n) => n.managerStatus?.reachability), ['reachable', 'reachable'], 'the others are reachable');
  const leaderK = Number(managers.find((n) => n.managerStatus?.leader)!.hostname.replace('node-', ''));
  const survivor = [1, 2, 3].find((k) => k !== leaderK)!;

  const create = await c.cliAt(survivor, 'service', 'create', '--name', 'web', '--replicas', '4', '--constraint', 'node.role==worker', '-p', `${PORT}:80`, '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
  t.equal(create.code, 0, `a follower takes a service create: ${create.stderr}`);
  await eventually(async () => (await runningTasks(c, 'web')).length === 4, '4 web tasks running', clusterWait());

  const load = startLoad([c.address(4), c.address(5)], PORT);
  await eventually(() => load.answered() > 200, 'the load is flowing');
  await c.kill(leaderK, 'SIGKILL');
  const killedAt = Date.now();
  const newLeader = await eventually(async () => {
    const n = await nodesAt(c, survivor);
    const l = n?.find((x) => x.managerStatus?.leader);
    return l && l.hostname !== `node-${leaderK}` ? l : undefined;
  }, 'a new leader', { timeoutMs: NEW_LEADER_BOUND_MS, pollMs: 200, retryErrors: true });
  t.comment(`${newLeader.hostname} leads ${Date.now() - killedAt} ms after the kill`);
  t.pass('a new leader within 10 s');

  const scale = await c.cliAt(survivor, 'service', 'scale', 'web=6');
  t.equal(scale.code, 0, `service scale against the survivors: ${scale.stderr}`);
  const report = await load.stop();
  t.ok(report.ok > 500, `${report.ok} requests answered`);
  t.equal(report.failed, 0, `no request failed (${report.errors.slice(0, 3).join('; ')})`);

  c.restart(leaderK);
  const back = await eventually(async () => {
    const n = await nodesAt(c, leaderK);
    const self = n?.find((x) => x.hostname === `node-${leaderK}`);
    return self?.status.state === 'ready' && n ? n : undefined;
  }, 'the killed manager is back', clusterWait(30_000));
  t.equal(back.find((x) => x.hostname === `node-${leaderK}`)?.managerStatus?.leader, false, 'it comes back as a follower');
  const tasks = await eventually(async () => {
    const r = await c.cliAt(leaderK, 'service', 'ps', 'web', '--format', 'json', '-f', 'desired-state=running');
    return r.code === 0 && (JSON.parse(r.stdout) as unknown[]).length === 6 ? r : undefined;
  }, 'it sees the scale made while it was gone', clusterWait());
  t.ok(tasks, 'caught up: 6 web tasks');

  // etcd loses quorum: writes fail with one clear line, the mesh keeps serving; quorum back, writes work again.
  const runningBefore = (await runningTasks(c, 'web')).map((x) => x.ID);
  const quiet = startLoad([c.address(4), c.address(5)], PORT);
  await eventually(() => quiet.answered() > 100, 'the load is flowing again');
  const etcdLeader = await etcd.leader();
  const lost = [0, 1, 2].filter((i) => i !== etcdLeader);
  for (const i of lost) await etcd.kill(i);
  const refused = await c.cliAt(survivor, 'service', 'scale', 'web=7');
  t.equal(refused.code, 1, 'a write without quorum fails');
  t.equal(refused.stderr.trim().split('\n').length, 1, `with one line: ${refused.stderr.trim()}`);
  t.match(refused.stderr, /no quorum/, 'that says why');
  for (const i of lost) etcd.restart(i);
  await etcd.waitHealthy();
  const resumed = await eventually(async () => {
    const r = await c.cliAt(survivor, 'service', 'scale', 'web=7');
    return r.code === 0 ? r : undefined;
  }, 'writes resume with quorum back', clusterWait(30_000));
  t.ok(resumed, 'service scale works again');
  // Beats wait on the store, so the silence without quorum is not the nodes': none is marked down, no task replaced.
  const runningAfter = new Set((await runningTasks(c, 'web')).map((x) => x.ID));
  t.same(runningBefore.filter((id) => !runningAfter.has(id)), [], `the ${runningBefore.length} web tasks of before the quorum loss still run`);
  // An etcd member SIGKILLed during a burst of service creates: every acknowledged create is there, once.
  const api = new ApiClient({ kind: 'unix', path: path.join(c.dir, `node-${survivor}`, 'shoal.sock') }, { timeoutMs: 15_000 });
  t.teardown(() => api.close());
  const names = Array.from({ length: 30 }, (_, i) => `burst-${i}`);
  const acked: string[] = [];
  const creates = names.map(async (name, i) => {
    await new Promise((r) => setTimeout(r, i * 200));
    await api.call('POST', '/v1/services', { spec: { name, replicas: 0, task: { command: ['sleep', '600'] } } }).then(
      () => acked.push(name),
      () => undefined,
    );
  });
  await eventually(() => acked.length >= 5, 'the burst has begun');
  await etcd.kill(await etcd.leader());
  const ackedAtKill = acked.length;
  await Promise.all(creates);
  const services = await eventually(async () => {
    try {
      return await api.call<{ spec: { name: string } }[]>('GET', '/v1/services');
    } catch {
      return undefined;
    }
  }, 'the services, after the member died', clusterWait());
  const burst = services.map((x) => x.spec.name).filter((n) => n.startsWith('burst-'));
  t.ok(acked.length > ackedAtKill, `creates go on with 2 of 3 members (${acked.length} of ${names.length} acknowledged, ${ackedAtKill} before the kill)`);
  t.same(acked.filter((n) => !burst.includes(n)), [], 'every acknowledged create is stored');
  t.equal(new Set(burst).size, burst.length, 'none is stored twice');
  const quietReport = await quiet.stop();
  // The mesh keeps serving from its last view: not one request fails while etcd has no quorum and a member dies.
  t.ok(quietReport.ok > 1000, `the mesh kept serving (${quietReport.ok} answered)`);
  t.equal(quietReport.failed, 0, `no request failed while etcd had no quorum and a member died (${quietReport.failed} of ${quietReport.sent}: ${quietReport.errors.slice(0, 3).join('; ')})`);
});
