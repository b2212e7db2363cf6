/**
 * The control loop with overlay networks, through a real in-memory store and
 * a fake agent: new tasks get an address on each network of their service;
 * when a network is full a task stays pending, naming it, and is not
 * scheduled until an address frees up; nodes get their own addresses.
 */
import t from 'tap';
import type { Test } from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ControlLoop } from '../../../src/manager/orchestrator/control-loop';
import { KEYS, isTerminal } from '../../../src/model/types';
import type { Network, Service, Task } from '../../../src/model/types';
import { MemoryStore } from '../../../src/store/memory-store';
import { eventually, satisfying } from '../../support/eventually';
import { FakeClock } from '../../support/fake-clock';
import { fakeAgent } from '../fixtures/fake-agent';
import { makeNode, makeService, makeNetwork } from '../../support/builders';

/** One poll's worth of the loop's clock: at least its change debounce, so each poll lets a pass run. */
const STEP_MS = 10;

async function setup(t: Test) {
  const store = new MemoryStore();
  await store.put(KEYS.node('n1'), makeNode('n1', { index: 1 }));
  await store.put(KEYS.node('n2'), makeNode('n2', { index: 2 }));
  const shoal = makeNetwork('shoal', '10.0.0.0/24', { builtin: true, nodeAddresses: { n1: '10.0.0.1', n2: '10.0.0.2' } });
  // Five host addresses, two taken by the nodes: three tasks fit.
  const tiny = makeNetwork('tiny', '10.0.9.0/29', { vni: 4097, nodeAddresses: { n1: '10.0.9.1', n2: '10.0.9.2' } });
  for (const n of [shoal, tiny]) await store.put(KEYS.network(n.id), n);
  let id = 0;
  // The loop's debounce and resync run on a fake clock that moves one step per poll of `until`.
  const clock = new FakeClock();
  const registry = new Registry();
  const loop = new ControlLoop(
    { store, logger: pino({ level: 'silent' }), registry, now: () => clock.now(), timers: clock, newId: () => `task-${++id}` },
    { historyLimit: 5, overlayAddresses: true },
  );
  const agent = fakeAgent(store, { now: () => clock.now() });
  t.teardown(async () => {
    agent.cancel();
    await loop.stop();
    await store.close();
  });
  const tasks = async () => (await store.range<Task>(KEYS.tasks)).kvs.map((kv) => kv.value);
  const network = async (nid: string) => (await store.get<Network>(KEYS.network(nid)))!.value;
  const until = <T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean) =>
    eventually(satisfying(read, ok), what, { beforePoll: () => clock.advance(STEP_MS) });
  /** Passes that reached the scheduler so far: the count of its latency histogram. */
  const passes = async () => Number(/shoal_scheduler_latency_seconds_count (\d+)/.exec(await registry.metrics())?.[1] ?? 0);
  return { store, loop, clock, tasks, network, until, passes };
}

function on(id: string, networks: string[], o: Parameters<typeof makeService>[1] = {}): Service {
  const s = makeService(id, o);
  s.spec.networks = networks;
  return s;
}

const live = (ts: Task[], service: string) => ts.filter((x) => x.serviceId === service && x.desiredState === 'running');

t.test('tasks get an address on each network; a full network keeps a task pending and unscheduled until one frees up', async (t) => {
  const { store, loop, clock, tasks, until, passes } = await setup(t);
  const web = on('web', ['tiny', 'shoal'], { replicas: 2 });
  await store.put(KEYS.service(web.id), web);
  loop.run();
  const running = await until('two running web tasks', tasks, (ts) => live(ts, 'web').filter((x) => x.status.state === 'running').length === 2);
  const addrs = live(running, 'web').map((x) => x.networks);
  t.same(addrs.map((a) => a?.map((x) => x.networkId)), [['tiny', 'shoal'], ['tiny', 'shoal']], 'one address per network, in the service’s order');
  t.same(addrs.map((a) => a?.[0].address).sort(), ['10.0.9.4', '10.0.9.5']);
  t.same(addrs.map((a) => a?.[1].address).sort(), ['10.0.0.190', '10.0.0.191']);

  const glob = on('glob', ['tiny'], { mode: 'global' });
  await store.put(KEYS.service(glob.id), glob);
  const stuck = await until('one global task waiting for an address', tasks, (ts) =>
    live(ts, 'glob').some((x) => x.status.state === 'pending' && x.status.message.startsWith('no free address')),
  );
  const waiting = live(stuck, 'glob').find((x) => x.status.state === 'pending')!;
  t.equal(waiting.status.message, 'no free address on network tiny (subnet 10.0.9.0/29 is full)');
  t.equal(waiting.networks, undefined);
  // Not "wait and see": stop() waits for any pass in flight; run() then asks for a fresh pass, which the
  // clock lets start, over a store that already holds the waiting task; stopping again waits for it to finish.
  await loop.stop();
  const before = await passes();
  loop.run();
  clock.advance(STEP_MS);
  await loop.stop();
  t.ok((await passes()) > before, 'a whole pass ran after the task went pending');
  const still = (await tasks()).find((x) => x.id === waiting.id)!;
  t.equal(still.status.state, 'pending', 'the scheduler leaves it alone');
  loop.run();

  await store.put(KEYS.service(web.id), { ...web, spec: { ...web.spec, replicas: 1 } });
  const done = await until('both global tasks running', tasks, (ts) => live(ts, 'glob').filter((x) => x.status.state === 'running').length === 2);
  const freed = done.find((x) => x.id === waiting.id)!;
  t.equal(freed.networks?.[0].networkId, 'tiny');
  t.match(freed.networks?.[0].address, /^10\.0\.9\.[345]$/);
  const all = done.filter((x) => !isTerminal(x.status.state)).flatMap((x) => x.networks ?? []).filter((a) => a.networkId === 'tiny').map((a) => a.address);
  t.equal(new Set(all).size, all.length, 'no address is given twice');
});

t.test('a node that joins gets an address on every network, if there is one', async (t) => {
  const { store, loop, network, until } = await setup(t);
  loop.run();
  await store.put(KEYS.node('n3'), makeNode('n3', { index: 3 }));
  const shoal = await until('n3 on the default network', () => network('shoal'), (n) => !!n.nodeAddresses.n3);
  t.equal(shoal.nodeAddresses.n3, '10.0.0.3');
  t.equal((await network('tiny')).nodeAddresses.n3, '10.0.9.3', 'tiny still had room');
  await store.delete(KEYS.node('n1'));
  const after = await until('n1 gone from the networks', () => network('shoal'), (n) => !n.nodeAddresses.n1);
  t.same(after.nodeAddresses, { n2: '10.0.0.2', n3: '10.0.0.3' });
});
