/**
 * The dispatcher's liveness check: a node silent for missedHeartbeats
 * periods is marked down, but not when the silence came from the store
 * (etcd without quorum): beats wait on the store, so a failed or stalled
 * read gives every node a full grace period from when the store answers.
 * A node not heard from since the term began (or the store came back) has
 * twice the limit, as swarmkit gives nodes in an unknown state.
 * A memory store with a switch to fail or stall reads, a clock moved by hand.
 */
import t from 'tap';
import pino from 'pino';
import { Dispatcher } from '../../../src/manager/dispatcher/dispatcher';
import { MemoryStore } from '../../../src/store/memory-store';
import { KEYS, type Node } from '../../../src/model/types';
import { makeNode } from '../../support/builders';

const PERIOD = 1_000;
const MISSED = 3;

/** A memory store whose reads can be made to fail, or to take `stallMs` of the hand clock. */
class FlakyStore extends MemoryStore {
  failing = false;
  stallMs = 0;
  constructor(private readonly clock: { ms: number }) {
    super();
  }
  private async trouble(): Promise<void> {
    if (this.failing) throw new Error('etcd cannot serve range (no quorum)');
    this.clock.ms += this.stallMs;
  }
  override async get<T = unknown>(key: string) {
    await this.trouble();
    return super.get<T>(key);
  }
  override async range<T = unknown>(prefix: string) {
    await this.trouble();
    return super.range<T>(prefix);
  }
}

async function setup() {
  const clock = { ms: 1_000_000 };
  const store = new FlakyStore(clock);
  await store.put(KEYS.node('w1'), makeNode('w1', { hostname: 'node-1' }));
  await store.put(KEYS.node('w2'), makeNode('w2', { hostname: 'node-2' }));
  const d = new Dispatcher({ store, logger: pino({ level: 'silent' }), now: () => clock.ms }, { heartbeatPeriodMs: PERIOD, missedHeartbeats: MISSED });
  const state = async (id: string) => (await store.get<Node>(KEYS.node(id)))!.value.status.state;
  return { clock, store, d, state };
}

t.test('a node that stops beating is down after the limit; one not heard from this term after twice the limit', async (t) => {
  const { clock, d, state } = await setup();
  await d.heartbeat('w1');
  for (let i = 1; i <= 2 * MISSED + 1; i++) {
    clock.ms += PERIOD;
    await d.heartbeat('w1');
    await d.checkLiveness();
    if (i === MISSED + 1) t.equal(await state('w2'), 'ready', `node-2, never heard from, is still ready after ${i} periods`);
  }
  t.equal(await state('w1'), 'ready', 'the beating node is ready');
  t.equal(await state('w2'), 'down', 'node-2, silent past twice the limit, is down');
});

t.test('silence after a beat counts against the normal limit', async (t) => {
  const { clock, d, state } = await setup();
  await d.heartbeat('w1');
  await d.heartbeat('w2');
  for (let i = 1; i <= MISSED + 1; i++) {
    clock.ms += PERIOD;
    await d.heartbeat('w1');
    await d.checkLiveness();
  }
  t.equal(await state('w1'), 'ready', 'the beating node is ready');
  t.equal(await state('w2'), 'down', 'node-2, silent for more than the limit after its beat, is down');
});

t.test('a store that failed reads: no node is judged on the silence it caused', async (t) => {
  const { clock, store, d, state } = await setup();
  await d.heartbeat('w1');
  await d.heartbeat('w2');
  store.failing = true;
  clock.ms += 6 * PERIOD;
  await t.rejects(d.heartbeat('w1'), /no quorum/, 'a beat without quorum fails');
  await t.rejects(d.checkLiveness(), /no quorum/, 'so does the check');
  store.failing = false;
  await d.checkLiveness();
  t.equal(await state('w1'), 'ready', 'node-1 is not down when the store comes back');
  t.equal(await state('w2'), 'ready', 'node-2 neither');
  // From then both are unknown: twice the limit to beat again.
  clock.ms += (2 * MISSED - 1) * PERIOD;
  await d.heartbeat('w1');
  await d.checkLiveness();
  t.equal(await state('w2'), 'ready', 'node-2 still within its grace period');
  clock.ms += 2 * PERIOD;
  await d.heartbeat('w1');
  await d.checkLiveness();
  t.equal(await state('w1'), 'ready', 'node-1 beat through it');
  t.equal(await state('w2'), 'down', 'node-2, silent past the grace period, is down');
});

t.test('a failed beat alone is enough: the next check gives a grace period', async (t) => {
  const { clock, store, d, state } = await setup();
  await d.heartbeat('w1');
  await d.heartbeat('w2');
  clock.ms += 5 * PERIOD;
  store.failing = true;
  await t.rejects(d.heartbeat('w1'));
  store.failing = false;
  await d.checkLiveness();
  t.equal(await state('w2'), 'ready', 'no node marked down by the check after a failed beat');
});

t.test('a read that stalled longer than a period: the silence was the store\'s, so a grace period', async (t) => {
  const { clock, store, d, state } = await setup();
  await d.heartbeat('w1');
  await d.heartbeat('w2');
  // The store is slow, not failing: beats wait on it and none arrives for 4 periods.
  clock.ms += 4 * PERIOD;
  store.stallMs = 2 * PERIOD;
  await d.checkLiveness();
  store.stallMs = 0;
  t.equal(await state('w1'), 'ready', 'node-1 not down after a read of 2 s');
  t.equal(await state('w2'), 'ready', 'node-2 neither');
  clock.ms += (2 * MISSED + 1) * PERIOD;
  await d.checkLiveness();
  t.equal(await state('w2'), 'down', 'silence after the store answered counts again');
});

t.test('a beat whose read waited out the outage counts as of its answer, not its arrival', async (t) => {
  const { clock, store, d, state } = await setup();
  await d.heartbeat('w1');
  await d.heartbeat('w2');
  // The store stalls: node-1's beat arrives, then waits 5 s for its read.
  store.stallMs = 5 * PERIOD;
  await d.heartbeat('w1');
  store.stallMs = 0;
  await d.heartbeat('w2');
  clock.ms += MISSED * PERIOD;
  await d.heartbeat('w2');
  await d.checkLiveness();
  t.equal(await state('w1'), 'ready', 'node-1, answered 3 s ago, is not down');
});
