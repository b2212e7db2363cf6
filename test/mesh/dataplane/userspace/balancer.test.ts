import t from 'tap';
import { BackendLoad } from '../../../../src/mesh/dataplane/userspace/backend-load';
import { createBalancer } from '../../../../src/mesh/dataplane/userspace/balancer';
import { backendKey } from '../../../../src/mesh/dataplane/userspace/round-robin';
import type { LbPolicy } from '../../../../src/model/types';
import type { Backend } from '../../../../src/mesh/table/table';

function b(id: string, weight = 1): Backend {
  return { id, address: '127.0.0.1', port: 1000 + id.charCodeAt(0), weight };
}

function setup(policy: LbPolicy | undefined, backends: Backend[], options: { limit?: number; affinityTimeoutMs?: number } = {}) {
  let now = 0;
  const load = new BackendLoad(options.limit ?? 0);
  const balancer = createBalancer(policy, { load, now: () => now }, { affinityTimeoutMs: options.affinityTimeoutMs });
  balancer.setBackends(backends);
  return { balancer, load, advance: (ms: number) => (now += ms) };
}

/** How many of `picks` went to each backend id. */
function tally(ids: (string | undefined)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of ids) out[id ?? '-'] = (out[id ?? '-'] ?? 0) + 1;
  return out;
}

const none = new Set<string>();

t.test('every policy: weight 0 and tried backends get nothing new', async (t) => {
  for (const policy of ['round-robin', 'least-connections', 'source-hash'] as const) {
    const { balancer } = setup(policy, [b('a'), b('b', 0), b('c')]);
    const picks = Array.from({ length: 40 }, (_, i) => balancer.pick(`10.0.0.${i}`, none)?.id);
    t.notOk(picks.includes('b'), `${policy}: drained backend skipped`);
    t.equal(balancer.pick('10.0.0.1', new Set([backendKey(b('a')), backendKey(b('c'))])), undefined, `${policy}: all tried`);
    const retry = balancer.pick('10.0.0.1', new Set([backendKey(b('a'))]));
    t.equal(retry?.id, 'c', `${policy}: a retry goes to the untried live one`);
    const drained = setup(policy, [b('a', 0)]).balancer;
    t.equal(drained.pick('10.0.0.1', none), undefined, `${policy}: only draining: nothing`);
  }
});

t.test('round-robin: even rotation, as before', async (t) => {
  const { balancer } = setup(undefined, [b('a'), b('b'), b('c')]);
  t.equal(balancer.policy, 'round-robin');
  const picks = Array.from({ length: 6 }, () => balancer.pick('10.0.0.1', none)?.id);
  t.same(picks, ['a', 'b', 'c', 'a', 'b', 'c']);
});

t.test('least-connections: the backend with fewest open, ties round robin', async (t) => {
  const { balancer, load } = setup('least-connections', [b('a'), b('b'), b('c')]);
  const held = Array.from({ length: 3 }, () => load.acquire(b('a')));
  load.acquire(b('b'));
  t.equal(balancer.pick('x', none)?.id, 'c', 'c has none open');
  load.acquire(b('c'));
  // b and c tie at 1: rotate between them.
  t.same(tally([balancer.pick('x', none)?.id, balancer.pick('x', none)?.id]), { b: 1, c: 1 });
  for (const release of held) release();
  t.equal(balancer.pick('x', none)?.id, 'a', 'a freed up');

  // Distribution when each pick opens a connection and they never close: even.
  const fresh = setup('least-connections', [b('a'), b('b'), b('c')]);
  const picks = Array.from({ length: 30 }, () => {
    const got = fresh.balancer.pick('x', none)!;
    fresh.load.acquire(got);
    return got.id;
  });
  t.same(tally(picks), { a: 10, b: 10, c: 10 });
});

t.test('source-hash: one client, one backend; clients spread over backends', async (t) => {
  const { balancer } = setup('source-hash', [b('a'), b('b'), b('c')]);
  const clients = Array.from({ length: 300 }, (_, i) => `10.${i >> 8}.${i & 255}.7`);
  const first = clients.map((c) => balancer.pick(c, none)!.id);
  const again = clients.map((c) => balancer.pick(c, none)!.id);
  t.same(again, first, 'each client sticks to its backend');
  const counts = tally(first);
  for (const id of ['a', 'b', 'c']) t.ok(counts[id] > 50, `${id} got a fair share (${counts[id]} of 300)`);
});

t.test('source-hash: affinity outlives a backend joining, until the timeout', async (t) => {
  const { balancer, advance } = setup('source-hash', [b('a'), b('b')], { affinityTimeoutMs: 1_000 });
  const clients = Array.from({ length: 100 }, (_, i) => `10.0.0.${i}`);
  const before = clients.map((c) => balancer.pick(c, none)!.id);
  balancer.setBackends([b('a'), b('b'), b('c')]);
  advance(999);
  t.same(clients.map((c) => balancer.pick(c, none)!.id), before, 'sticky within the timeout of the last connection');
  advance(999);
  t.same(clients.map((c) => balancer.pick(c, none)!.id), before, 'each connection renews it');
  advance(1_000);
  const after = clients.map((c) => balancer.pick(c, none)!.id);
  t.ok(after.includes('c'), 'expired affinities rehash, some onto the new backend');
  const moved = after.filter((id, i) => id !== before[i]);
  t.ok(moved.every((id) => id === 'c'), 'rendezvous hashing: only moves onto the new backend');
});

t.test('source-hash: a client whose backend leaves or drains is rehashed among the live ones', async (t) => {
  const { balancer } = setup('source-hash', [b('a'), b('b'), b('c')]);
  const clients = Array.from({ length: 60 }, (_, i) => `10.0.1.${i}`);
  const before = clients.map((c) => balancer.pick(c, none)!.id);
  balancer.setBackends([b('a'), b('b', 0), b('c')]);
  const after = clients.map((c) => balancer.pick(c, none)!.id);
  t.notOk(after.includes('b'));
  t.ok(after.every((id, i) => before[i] === 'b' || id === before[i]), 'clients of other backends stay');
  const retry = balancer.pick(clients[0], new Set([backendKey(b(after[0]))]));
  t.ok(retry && retry.id !== after[0], 'a retry rehashes away from the tried backend');
});

t.test('per-backend limit: full backends are skipped; all full is reported', async (t) => {
  for (const policy of ['round-robin', 'least-connections', 'source-hash'] as const) {
    const { balancer, load } = setup(policy, [b('a'), b('b')], { limit: 2 });
    const picks: string[] = [];
    for (let i = 0; i < 4; i++) {
      const got = balancer.pick(`10.0.0.${i % 2}`, none);
      if (got) {
        load.acquire(got);
        picks.push(got.id);
      }
    }
    t.same(tally(picks), { a: 2, b: 2 }, `${policy}: each backend up to its limit`);
    t.equal(balancer.pick('10.0.0.9', none), undefined, `${policy}: nothing when all are full`);
    t.ok(balancer.fullOnly(none), `${policy}: and it says so`);
  }
  const { balancer } = setup('round-robin', [b('a', 0)], { limit: 1 });
  t.notOk(balancer.fullOnly(none), 'no live backend is not a limit');
});

t.test('BackendLoad: release is idempotent', async (t) => {
  const load = new BackendLoad(1);
  const release = load.acquire(b('a'));
  t.notOk(load.hasRoom(b('a')));
  release();
  release();
  t.equal(load.count(b('a')), 0);
  t.ok(load.hasRoom(b('a')));
});
