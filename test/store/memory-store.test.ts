import t from 'tap';
import { MemoryStore, type CommittedTxn } from '../../src/store/memory-store';
import type { WatchEvent } from '../../src/store/store';
import { storeCompliance } from './store-compliance';

void storeCompliance(t, 'memory', async (options) => {
  const store = new MemoryStore(options);
  return { store, cleanup: () => store.close() };
});

t.test('a watch opened just before a batch is acknowledged still sees history first', async (t) => {
  // Opens the watch between persist resolving and the batch being shown to watchers.
  class Racy extends MemoryStore {
    seen: WatchEvent[] = [];
    armed = false;
    protected override async persist(_txns: CommittedTxn[]): Promise<void> {
      if (!this.armed) return;
      this.armed = false;
      queueMicrotask(() => this.watch('/', 1, { onEvents: (e) => this.seen.push(...e) }));
    }
  }
  const store = new Racy();
  await store.put('/a', 1);
  store.armed = true;
  await store.put('/b', 2);
  await new Promise((r) => setImmediate(r));
  t.same(
    store.seen.map((e) => e.revision),
    [1, 2],
  );
  await store.close();
});

t.test('a failed persist refuses every later write', async (t) => {
  class Failing extends MemoryStore {
    fail = false;
    protected override async persist(_txns: CommittedTxn[]): Promise<void> {
      if (this.fail) throw new Error('disk full');
    }
  }
  const store = new Failing();
  await store.put('/a', 1);
  store.fail = true;
  await t.rejects(store.put('/b', 2), /disk full/);
  store.fail = false;
  await t.rejects(store.put('/c', 3), /disk full/, 'memory is ahead of disk now');
  await store.close();
});

t.test('non-JSON values are rejected before anything is applied', async (t) => {
  const store = new MemoryStore();
  const cyclic: { self?: unknown } = {};
  cyclic.self = cyclic;
  for (const value of [undefined, 1n, cyclic]) {
    await t.rejects(store.txn({ compare: [], success: [{ type: 'put', key: '/x', value }] }), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  }
  t.equal(store.revision(), 0);
  await store.close();
});
