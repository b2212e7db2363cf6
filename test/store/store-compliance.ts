/**
 * The Store contract as one suite, run against every backend (memory, WAL,
 * etcd): revisions, get/range/put/delete, CAS transactions, prefix watches
 * with history, compaction, group commit. Revisions are checked relative to
 * the store's revision when the test starts, so a backend whose fresh store
 * is not at 0 (etcd) passes too; every test gets its own fresh store.
 */
import type {} from 'tap';
import { CompactedError } from '../../src/errors';
import type { KeyValue, Store, WatchEvent, WatchHandlers } from '../../src/store/store';

/** A fresh store for one test and how to dispose of it. */
export interface StoreHarness {
  store: Store;
  /** Close the store (if the test did not) and remove whatever it left behind. */
  cleanup(): Promise<void>;
}

/** What a test asks of the store it is given. */
export interface StoreHarnessOptions {
  /** Keep about this many events of history (the compaction test asks for a small one). */
  historyLimit?: number;
}

/** Makes a fresh, empty store for each test. */
export type MakeStore = (options?: StoreHarnessOptions) => Promise<StoreHarness>;

/** How long a test waits for a watch event before failing. */
const WATCH_TIMEOUT_MS = 5_000;
/** Writes issued in one tick by the group-commit test. */
const CONCURRENT_PUTS = 300;

/** Watch handlers that record what arrives and let a test wait for a condition. */
class Collector {
  events: WatchEvent[] = [];
  errors: Error[] = [];
  private wake: (() => void) | undefined;
  readonly handlers: WatchHandlers = {
    onEvents: (events) => {
      this.events.push(...events);
      this.wake?.();
    },
    onError: (err) => {
      this.errors.push(err);
      this.wake?.();
    },
  };

  async until(what: string, cond: () => boolean): Promise<void> {
    const deadline = Date.now() + WATCH_TIMEOUT_MS;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.summary())}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Events as `type key@revision`, compact enough to compare whole lists. */
  summary(): string[] {
    return this.events.map((e) => `${e.type} ${e.kv.key}@${e.revision}`);
  }
}

function keys(kvs: KeyValue[]): string[] {
  return kvs.map((kv) => kv.key);
}

/** Run the Store contract suite as subtests of t against stores from makeStore. */
export async function storeCompliance(t: tap.Test, name: string, makeStore: MakeStore): Promise<void> {
  await t.test(`${name} store compliance`, async (t) => {
    async function fresh(t: tap.Test, options?: StoreHarnessOptions): Promise<Store> {
      const harness = await makeStore(options);
      t.teardown(() => harness.cleanup());
      return harness.store;
    }

    t.test('revisions increase by one per writing transaction', async (t) => {
      const store = await fresh(t);
      const r0 = store.revision();
      t.same(await store.put('/a', 1), { revision: r0 + 1 });
      t.same(await store.put('/b', 2), { revision: r0 + 2 });
      const both = await store.txn({
        compare: [],
        success: [
          { type: 'put', key: '/c', value: 3 },
          { type: 'put', key: '/d', value: 4 },
        ],
      });
      t.same(both, { succeeded: true, revision: r0 + 3 }, 'one transaction, one revision');
      const lost = await store.txn({ compare: [{ key: '/a', modRevision: 0 }], success: [{ type: 'put', key: '/a', value: 9 }] });
      t.same(lost, { succeeded: false, revision: r0 + 3 }, 'a failed compare without failure ops writes nothing');
      t.same(await store.delete('/absent'), { revision: r0 + 3, deleted: false }, 'deleting an absent key writes nothing');
      t.same(await store.delete('/a'), { revision: r0 + 4, deleted: true });
      t.equal(store.revision(), r0 + 4);
      const { kvs: cs } = await store.range('/c');
      t.equal(cs[0].modRevision, r0 + 3);
    });

    t.test('get, range, put, delete', async (t) => {
      const store = await fresh(t);
      t.equal(await store.get('/svc/x'), undefined);
      for (const key of ['/svc/b', '/svc/a', '/node/a', '/svcx', '/svc/c/d']) await store.put(key, { name: key });
      const svc = await store.range('/svc/');
      t.same(keys(svc.kvs), ['/svc/a', '/svc/b', '/svc/c/d'], 'prefix range, in key order');
      t.equal(svc.revision, store.revision(), 'range reports the revision it read at');
      t.same(keys((await store.range('/svc')).kvs), ['/svc/a', '/svc/b', '/svc/c/d', '/svcx'], 'a prefix is a plain string prefix');
      t.equal((await store.range('')).kvs.length, 5, 'the empty prefix is everything');
      t.same((await store.get('/svc/a'))?.value, { name: '/svc/a' });
      const del = await store.delete('/svc/a');
      t.equal(del.deleted, true);
      t.equal(await store.get('/svc/a'), undefined);
      t.same(keys((await store.range('/svc/')).kvs), ['/svc/b', '/svc/c/d']);
    });

    t.test('values are copies: callers cannot change what is stored', async (t) => {
      const store = await fresh(t);
      const value = { spec: { replicas: 1 }, tags: ['a'] };
      const put = store.put('/v', value);
      value.spec.replicas = 2;
      value.tags.push('b');
      await put;
      const got = await store.get<typeof value>('/v');
      t.same(got?.value, { spec: { replicas: 1 }, tags: ['a'] });
      got!.value.spec.replicas = 3;
      t.same((await store.get('/v'))?.value, { spec: { replicas: 1 }, tags: ['a'] });
      await t.rejects(store.put('/bad', undefined), 'undefined is not a JSON value');
      t.equal(await store.get('/bad'), undefined);
    });

    t.test('createRevision, modRevision and version', async (t) => {
      const store = await fresh(t);
      const r0 = store.revision();
      await store.put('/k', 'one');
      await store.put('/other', 'x');
      await store.put('/k', 'two');
      t.match(await store.get('/k'), { key: '/k', value: 'two', createRevision: r0 + 1, modRevision: r0 + 3, version: 2 });
      await store.delete('/k');
      await store.put('/k', 'again');
      t.match(await store.get('/k'), { value: 'again', createRevision: r0 + 5, modRevision: r0 + 5, version: 1 }, 'recreated');
    });

    t.test('txn compares modRevision; 0 means absent', async (t) => {
      const store = await fresh(t);
      const createIfAbsent = { compare: [{ key: '/lock', modRevision: 0 }], success: [{ type: 'put' as const, key: '/lock', value: 'me' }] };
      const first = await store.txn(createIfAbsent);
      t.equal(first.succeeded, true);
      t.equal((await store.txn(createIfAbsent)).succeeded, false, 'the key exists now');
      t.equal((await store.get('/lock'))?.value, 'me');
      const swap = await store.txn({
        compare: [{ key: '/lock', modRevision: first.revision }],
        success: [{ type: 'put', key: '/lock', value: 'you' }],
      });
      t.same(swap, { succeeded: true, revision: first.revision + 1 }, 'compare on the current modRevision');
      const stale = await store.txn({
        compare: [{ key: '/lock', modRevision: first.revision }],
        success: [{ type: 'put', key: '/lock', value: 'stale' }],
      });
      t.equal(stale.succeeded, false, 'compare on an old modRevision');
      const mixed = await store.txn({
        compare: [
          { key: '/lock', modRevision: swap.revision },
          { key: '/free', modRevision: 1 },
        ],
        success: [{ type: 'delete', key: '/lock' }],
      });
      t.equal(mixed.succeeded, false, 'every compare must hold');
      t.equal((await store.get('/lock'))?.value, 'you');
    });

    t.test('a failed compare applies the failure ops', async (t) => {
      const store = await fresh(t);
      const { revision } = await store.put('/state', 'old');
      const r = await store.txn({
        compare: [{ key: '/state', modRevision: revision + 100 }],
        success: [{ type: 'put', key: '/state', value: 'new' }],
        failure: [
          { type: 'put', key: '/conflicts', value: 1 },
          { type: 'delete', key: '/state' },
        ],
      });
      t.same(r, { succeeded: false, revision: revision + 1 });
      t.equal(await store.get('/state'), undefined);
      t.match(await store.get('/conflicts'), { value: 1, modRevision: revision + 1 });
    });

    t.test('watch from a revision replays history, then live events, in order', async (t) => {
      const store = await fresh(t);
      const r0 = store.revision();
      await store.put('/w/a', 1);
      await store.put('/w/b', 2);
      await store.delete('/w/a');
      await store.put('/x/c', 3);
      const c = new Collector();
      const watcher = store.watch('/w/', r0 + 1, c.handlers);
      t.teardown(() => watcher.cancel());
      // Written before history is delivered: must still come after it.
      const live = store.put('/w/c', 4);
      await c.until('history and the first live event', () => c.events.length >= 4);
      await live;
      await store.txn({
        compare: [],
        success: [
          { type: 'put', key: '/w/d', value: 5 },
          { type: 'put', key: '/x/e', value: 6 },
          { type: 'delete', key: '/w/b' },
        ],
      });
      await c.until('the live transaction', () => c.events.length >= 6);
      t.same(c.summary(), [
        `put /w/a@${r0 + 1}`,
        `put /w/b@${r0 + 2}`,
        `delete /w/a@${r0 + 3}`,
        `put /w/c@${r0 + 5}`,
        `put /w/d@${r0 + 6}`,
        `delete /w/b@${r0 + 6}`,
      ]);
      t.match(c.events[2], { prevKv: { key: '/w/a', value: 1, modRevision: r0 + 1 } }, 'a delete carries the previous value');
      t.match(c.events[4], { kv: { value: 5, createRevision: r0 + 6, version: 1 } });
      t.same(c.errors, []);
    });

    t.test('watch filters by prefix; from 0 means live only; cancel stops it', async (t) => {
      const store = await fresh(t);
      await store.put('/p/old', 0);
      const c = new Collector();
      const all = new Collector();
      const watcher = store.watch('/p/', 0, c.handlers);
      const everything = store.watch('', 0, all.handlers);
      t.teardown(() => everything.cancel());
      await store.put('/p/1', 1);
      await store.put('/q/1', 2);
      await store.put('/p2', 3);
      await store.put('/p/2', 4);
      await c.until('/p/2', () => c.events.length >= 2);
      t.same(
        c.events.map((e) => e.kv.key),
        ['/p/1', '/p/2'],
      );
      watcher.cancel();
      await store.put('/p/3', 5);
      await all.until('/p/3 on the other watcher', () => all.events.some((e) => e.kv.key === '/p/3'));
      t.equal(c.events.length, 2, 'no events after cancel');
      t.same(
        all.events.map((e) => e.kv.key),
        ['/p/1', '/q/1', '/p2', '/p/2', '/p/3'],
      );
    });

    t.test('watching a compacted revision is a CompactedError', async (t) => {
      const store = await fresh(t, { historyLimit: 4 });
      const r0 = store.revision();
      for (let i = 0; i < 20; i++) await store.put(`/h/${i}`, i);
      const c = new Collector();
      let thrown: unknown;
      try {
        const w = store.watch('/h/', r0 + 1, c.handlers);
        t.teardown(() => w.cancel());
        // A remote backend may only learn of the compaction from its server.
        await c.until('the compaction error', () => c.errors.length > 0);
      } catch (err) {
        thrown = err;
      }
      t.type(thrown ?? c.errors[0], CompactedError);
      t.same(c.events, [], 'no events from a compacted watch');
      const recent = new Collector();
      const w = store.watch('/h/', store.revision(), recent.handlers);
      t.teardown(() => w.cancel());
      await recent.until('the newest event', () => recent.events.length >= 1);
      t.same(recent.summary(), [`put /h/19@${r0 + 20}`], 'recent history is still there');
    });

    t.test('concurrent puts in one tick are all acknowledged', async (t) => {
      const store = await fresh(t);
      const r0 = store.revision();
      const c = new Collector();
      const w = store.watch('/burst/', r0 + 1, c.handlers);
      t.teardown(() => w.cancel());
      const acks = await Promise.all(Array.from({ length: CONCURRENT_PUTS }, (_, i) => store.put(`/burst/${i}`, { i })));
      const revisions = acks.map((a) => a.revision).sort((a, b) => a - b);
      t.same(revisions, Array.from({ length: CONCURRENT_PUTS }, (_, i) => r0 + 1 + i), 'distinct, consecutive revisions');
      const { kvs } = await store.range('/burst/');
      t.equal(kvs.length, CONCURRENT_PUTS);
      t.ok(
        kvs.every((kv) => (kv.value as { i: number }).i === Number(kv.key.slice('/burst/'.length))),
        'every value stored',
      );
      await c.until('every event', () => c.events.length >= CONCURRENT_PUTS);
      t.same(
        c.events.map((e) => e.revision),
        Array.from({ length: CONCURRENT_PUTS }, (_, i) => r0 + 1 + i),
        'watchers see them in revision order',
      );
    });

    t.test('close is safe twice and refuses later writes', async (t) => {
      const store = await fresh(t);
      const pending = store.put('/last', 1);
      await Promise.all([store.close(), store.close()]);
      t.same(await pending, { revision: store.revision() }, 'a write issued before close is acknowledged');
      await store.close();
      await t.rejects(store.put('/after', 1));
    });
  });
}
