/**
 * EtcdStore against a real single-member etcd: the store compliance suite
 * (each test in its own key prefix), compaction, the etcd:// address parser,
 * key prefixes that keep clusters apart, and the metrics.
 */
import { Etcd3 } from 'etcd3';
import { Registry } from 'prom-client';
import t from 'tap';
import { CompactedError } from '../../src/errors';
import { parseEtcdUrl } from '../../src/store/etcd-endpoints';
import { EtcdStore } from '../../src/store/etcd-store';
import type { Store, WatchEvent } from '../../src/store/store';
import { EtcdCluster } from '../support/etcd-cluster';
import { eventually } from '../support/eventually';
import { storeCompliance } from './store-compliance';

let cluster: EtcdCluster;
let admin: Etcd3;
let prefixes = 0;

t.before(async () => {
  cluster = await EtcdCluster.start(1);
  admin = new Etcd3({ hosts: cluster.hosts });
});
t.teardown(async () => {
  admin?.close();
  await cluster?.stop();
});

/** etcd compaction as the compliance suite's history limit: after every put, compact to `limit` revisions back. */
function compactingPuts(store: EtcdStore, limit: number): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'put') {
        return async (key: string, value: unknown) => {
          const r = await target.put(key, value);
          if (r.revision - limit > 0) await admin.kv.compact({ revision: r.revision - limit, physical: true });
          return r;
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function open(t: tap.Test, options: Partial<Parameters<typeof EtcdStore.open>[0]> = {}): Promise<EtcdStore> {
  const store = await EtcdStore.open({ url: cluster.url, keyPrefix: `/test-${++prefixes}/`, ...options });
  t.teardown(() => store.close());
  return store;
}

void storeCompliance(t, 'etcd', async (options) => {
  const store = await EtcdStore.open({ url: cluster.url, keyPrefix: `/compliance-${++prefixes}/` });
  return { store: options?.historyLimit ? compactingPuts(store, options.historyLimit) : store, cleanup: () => store.close() };
});

t.test('a watch from a compacted revision ends with CompactedError and no events', async (t) => {
  const store = await open(t);
  const { revision: first } = await store.put('/c/a', 1);
  const { revision: last } = await store.put('/c/b', 2);
  await admin.kv.compact({ revision: last, physical: true });
  const errors: Error[] = [];
  const events: WatchEvent[] = [];
  store.watch('/c/', first, { onEvents: (e) => events.push(...e), onError: (err) => errors.push(err) });
  await eventually(() => errors.length > 0, 'the compaction error');
  t.type(errors[0], CompactedError);
  t.match(errors[0], { code: 'SHOAL_ERR_COMPACTED' });
  t.same(events, []);
  const live: number[] = [];
  const w = store.watch('/c/', last, { onEvents: (e) => live.push(...e.map((x) => x.revision)) });
  t.teardown(() => w.cancel());
  await eventually(() => live.length > 0, 'the kept revision');
  t.same(live, [last], 'the compaction revision itself is kept');
});

t.test('key prefixes keep two clusters on one etcd apart', async (t) => {
  const a = await open(t, { keyPrefix: '/a/' });
  const ab = await open(t, { keyPrefix: '/ab/' });
  await a.put('/nodes/1', 'a');
  await ab.put('/nodes/1', 'ab');
  t.same(
    (await a.range('')).kvs.map((kv) => [kv.key, kv.value]),
    [['/nodes/1', 'a']],
  );
  t.equal((await ab.get('/nodes/1'))?.value, 'ab');
  t.equal((await admin.get('/a//nodes/1').string()) ?? undefined, '"a"', 'stored under the prefix, as JSON');
  await t.rejects(EtcdStore.open({ url: cluster.url, keyPrefix: '/a' }), { code: 'SHOAL_ERR_INVALID_ARGUMENT' }, 'a prefix must end with /');
});

t.test('a range larger than one page is one snapshot in key order', async (t) => {
  const store = await open(t);
  const n = 1_234;
  for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, j) => store.put(`/big/${String(i + j).padStart(5, '0')}`, i + j)));
  const { kvs, revision } = await store.range('/big/');
  t.equal(kvs.length, n);
  t.ok(
    kvs.every((kv, i) => kv.value === i),
    'every key once, in order',
  );
  t.equal(revision, store.revision());
});

t.test('etcd:// addresses', async (t) => {
  t.same(parseEtcdUrl('etcd://h1:2379,10.0.0.2:2380,[::1]:2379'), [
    { host: 'h1', port: 2379 },
    { host: '10.0.0.2', port: 2380 },
    { host: '::1', port: 2379 },
  ]);
  const bad: [string, RegExp][] = [
    ['http://h1:2379', /must start with etcd:\/\//],
    ['etcd://', /names no member/],
    ['etcd://h1', /is not host:port/],
    ['etcd://h1:2379,', /"" .* is not host:port/],
    ['etcd://h1:0', /not 1-65535/],
    ['etcd://h1:65536', /not 1-65535/],
    ['etcd://h1:x', /is not host:port/],
  ];
  for (const [url, why] of bad) {
    t.throws(() => parseEtcdUrl(url), { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: why }, url);
  }
  await t.rejects(EtcdStore.open({ url: 'etcd://h1:99999' }), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  await t.rejects(EtcdStore.open({ url: cluster.url, tls: { caFile: '/nonexistent/ca.pem' } }), { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: /ca\.pem/ });
});

t.test("etcd's request limits are a refused request, not bad user input", async (t) => {
  const store = await open(t);
  // etcd's --max-txn-ops is 128 by default.
  const success = Array.from({ length: 129 }, (_, i) => ({ type: 'put' as const, key: `/many/${i}`, value: i }));
  await t.rejects(store.txn({ compare: [], success }), { code: 'SHOAL_ERR_STORE_REQUEST_FAILED', message: /too many operations/ });
  await t.rejects(
    store.txn({ compare: [], success: [{ type: 'put', key: '/twice', value: 1 }, { type: 'put', key: '/twice', value: 2 }] }),
    { code: 'SHOAL_ERR_STORE_REQUEST_FAILED', message: /duplicate key/ },
    'etcd refuses a key written twice in one transaction (the memory store takes the last)',
  );
  t.equal((await store.range('')).kvs.length, 0, 'nothing was written');
});

t.test('request latency is measured by op and result', async (t) => {
  const registry = new Registry();
  const store = await open(t, { registry });
  await store.put('/m', 1);
  await store.txn({ compare: [{ key: '/m', modRevision: 0 }], success: [] });
  const text = await registry.metrics();
  t.match(text, /shoal_store_etcd_request_duration_seconds_count\{op="put",result="ok"\} 1/);
  t.match(text, /shoal_store_etcd_request_duration_seconds_count\{op="txn",result="ok"\} 1/);
  t.match(text, /shoal_store_etcd_watch_restarts_total 0/);
});
