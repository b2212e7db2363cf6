import t from 'tap';
import { hashBuckets, weightedSlots } from '../../../../src/mesh/dataplane/nftables/backend-slots';
import type { Backend } from '../../../../src/mesh/table/table';

function be(id: string, weight = 1): Backend {
  return { id, address: '10.0.0.2', port: 80, weight };
}

const ids = (bs: Backend[]) => bs.map((b) => b.id).join('');

t.test('weighted slots', async (t) => {
  const cases: { name: string; backends: Backend[]; maxSlots?: number; slots: string }[] = [
    { name: 'no backends', backends: [], slots: '' },
    { name: 'only draining backends', backends: [be('a', 0), be('b', 0)], slots: '' },
    { name: 'equal weights: each once, in order', backends: [be('a'), be('b'), be('c')], slots: 'abc' },
    { name: 'draining ones are skipped', backends: [be('a'), be('b', 0), be('c')], slots: 'ac' },
    { name: 'weights are reduced by their divisor', backends: [be('a', 4), be('b', 2)], slots: 'aba' },
    { name: 'a heavy backend is spread, not bunched', backends: [be('a', 5), be('b', 1), be('c', 1)], slots: 'aabacaa' },
    { name: 'too many slots are scaled down, each keeping one', backends: [be('a', 100), be('b', 1)], maxSlots: 10, slots: 'aaaaabaaaa' },
  ];
  for (const c of cases) t.equal(ids(weightedSlots(c.backends, c.maxSlots)), c.slots, c.name);
});

t.test('hash buckets', async (t) => {
  t.same(hashBuckets([], 8), [], 'no backends, no buckets');
  t.same(hashBuckets([be('a', 0)], 8), [], 'only draining backends, no buckets');
  const three = [be('a'), be('b'), be('c')];
  const before = hashBuckets(three, 256);
  t.equal(before.length, 256);
  for (const id of 'abc') {
    const share = before.filter((b) => b.id === id).length;
    t.ok(share > 50 && share < 120, `backend ${id} gets about a third of the buckets (${share})`);
  }
  t.same(ids(hashBuckets([...three].reverse(), 256)), ids(before), 'the order backends come in does not matter');

  const withoutB = hashBuckets([be('a'), be('c')], 256);
  const moved = before.filter((b, i) => b.id !== 'b' && withoutB[i].id !== b.id).length;
  t.equal(moved, 0, 'when b leaves, only the buckets b held move');
  t.notOk(withoutB.some((b) => b.id === 'b'));

  const drained = hashBuckets([be('a'), be('b', 0), be('c')], 256);
  t.same(ids(drained), ids(withoutB), 'a draining backend is as good as gone for new clients');

  const heavy = hashBuckets([be('a', 3), be('b', 1)], 256).filter((b) => b.id === 'a').length;
  t.ok(heavy > 160, `weight 3 against 1 takes about three quarters (${heavy})`);
});
