/**
 * Leader election on a real etcd (one member): one of several managers
 * leads, the others see who; the leader resigning or vanishing (its client
 * gone, so its lease runs out) hands the lead to another.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { EtcdLeadership } from '../../../src/manager/leader/etcd-leadership';
import { EtcdStore } from '../../../src/store/etcd-store';
import { EtcdCluster } from '../../support/etcd-cluster';
import { eventually } from '../../support/eventually';

const logger = pino({ level: 'silent' });

t.test('one manager leads; resigning or vanishing hands the lead on', async (t) => {
  const etcd = await EtcdCluster.start(1);
  t.teardown(() => etcd.stop());
  const managers = await Promise.all(
    ['m1', 'm2', 'm3'].map(async (id, i) => {
      const store = await EtcdStore.open({ url: etcd.url, keyPrefix: '/election-test/' });
      const registry = new Registry();
      const leadership = new EtcdLeadership({ etcd: store.coordination(), logger, registry }, { self: { nodeId: id, apiAddr: `127.0.0.${i + 1}:4243` }, ttlSeconds: 2, retryMs: 200 });
      const seen: boolean[] = [];
      return { id, store, registry, leadership, seen };
    }),
  );
  t.teardown(async () => {
    for (const m of managers) {
      await m.leadership.stop();
      await m.store.close();
    }
  });
  for (const m of managers) m.leadership.start(({ leading }) => m.seen.push(leading));
  const leaders = () => managers.filter((m) => m.leadership.leading());

  const first = await eventually(() => leaders().length === 1 && leaders()[0], 'one leader');
  await eventually(() => managers.every((m) => m.leadership.leader()?.nodeId === first.id), 'every manager sees the same leader');
  t.equal(leaders().length, 1, 'exactly one leads');
  t.match(await first.registry.metrics(), /shoal_manager_leader 1/, 'the leader says so in its metrics');

  await first.leadership.stop();
  t.notOk(first.leadership.leading(), 'a manager that resigned no longer leads');
  const second = await eventually(() => leaders().length === 1 && leaders()[0], 'a new leader after the resignation');
  t.not(second.id, first.id);

  // A leader that vanishes without resigning (SIGKILL): its lease runs out, and the one left takes over.
  await second.leadership.stop();
  const third = managers.find((m) => m !== first && m !== second)!;
  await eventually(() => third.leadership.leading(), 'the last manager leads');
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'campaigner.js'), etcd.url, '/election-test/', 'm9'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await third.leadership.stop();
  await eventually(() => out.includes('leading'), 'the campaigner in its own process leads');
  child.kill('SIGKILL');
  const back = managers.find((m) => m === first)!;
  const again = new EtcdLeadership({ etcd: back.store.coordination(), logger, registry: new Registry() }, { self: { nodeId: 'm1-again', apiAddr: '127.0.0.1:4243' }, ttlSeconds: 2, retryMs: 200 });
  t.teardown(() => again.stop());
  again.start(() => undefined);
  await eventually(() => again.leading(), 'a manager leads once the killed leader\'s lease ran out', 20_000);
  t.equal(again.leader()?.nodeId, 'm1-again', 'and every manager sees it');
  t.ok(first.seen.includes(true) && first.seen[first.seen.length - 1] === false, 'the first leader was told it led, then that it stepped down');
});
