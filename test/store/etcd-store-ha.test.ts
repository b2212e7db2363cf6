/**
 * EtcdStore on a real 3-member etcd while members die: the leader killed in
 * the middle of a burst of puts and transactions (every acknowledged write is
 * there afterwards, none applied twice, a watch sees each once), and quorum
 * lost and regained (calls fail with SHOAL_ERR_NO_QUORUM instead of hanging,
 * watches end with an error instead of going quiet, writes work again).
 */
import t from 'tap';
import { isTemporary } from '../../src/errors';
import { EtcdStore } from '../../src/store/etcd-store';
import type { WatchEvent } from '../../src/store/store';
import { EtcdCluster } from '../support/etcd-cluster';
import { eventually } from '../support/eventually';

/** Writes in the burst, how many run at once, and after how many acknowledgements the leader dies. */
const BURST_WRITES = 400;
const BURST_WORKERS = 16;
const KILL_AFTER_ACKS = 100;
/** Short so the quorum test is quick; the default is 5 s. */
const REQUEST_TIMEOUT_MS = 2_000;
const WATCH_RESUME_TIMEOUT_MS = 3_000;
/** Bounds that say "fails instead of hanging"; never reached when the store works. */
const TEST_TIMEOUT_MS = 90_000;

async function cluster3(t: tap.Test): Promise<EtcdCluster> {
  const cluster = await EtcdCluster.start(3);
  t.teardown(() => cluster.stop());
  return cluster;
}

async function open(t: tap.Test, cluster: EtcdCluster): Promise<EtcdStore> {
  const store = await EtcdStore.open({ url: cluster.url, requestTimeoutMs: REQUEST_TIMEOUT_MS, watchResumeTimeoutMs: WATCH_RESUME_TIMEOUT_MS });
  t.teardown(() => store.close());
  return store;
}

t.test('the leader killed during a burst: acknowledged writes survive, none twice', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const cluster = await cluster3(t);
  const store = await open(t, cluster);
  const r0 = store.revision();
  const seen: WatchEvent[] = [];
  const watchErrors: Error[] = [];
  const w = store.watch('/burst/', r0 + 1, { onEvents: (e) => seen.push(...e), onError: (err) => watchErrors.push(err) });
  t.teardown(() => w.cancel());

  const acked = new Map<string, number>();
  const failures: Error[] = [];
  let next = 0;
  let killed: Promise<void> | undefined;
  const worker = async () => {
    while (next < BURST_WRITES) {
      const i = next++;
      try {
        if (i % 2 === 0) {
          const key = `/burst/put/${i}`;
          acked.set(key, (await store.put(key, { i })).revision);
        } else {
          const key = `/burst/txn/${i}`;
          const r = await store.txn({ compare: [{ key, modRevision: 0 }], success: [{ type: 'put', key, value: { i } }] });
          if (r.succeeded) acked.set(key, r.revision);
        }
      } catch (err) {
        failures.push(err as Error);
      }
      if (acked.size >= KILL_AFTER_ACKS && !killed) killed = cluster.leader().then((leader) => cluster.kill(leader));
    }
  };
  await Promise.all(Array.from({ length: BURST_WORKERS }, worker));
  await killed;
  t.comment(`${acked.size} acknowledged, ${failures.length} failed`);
  t.ok(killed, 'the leader was killed during the burst');
  t.ok(acked.size >= KILL_AFTER_ACKS, 'writes were acknowledged');
  t.same(
    failures.filter((e) => !isTemporary(e)).map((e) => e.message),
    [],
    'every failure is temporary (worth a retry)',
  );

  const { kvs } = await store.range('/burst/');
  const stored = new Map(kvs.map((kv) => [kv.key, kv]));
  const missing = [...acked.keys()].filter((k) => !stored.has(k));
  t.same(missing, [], 'every acknowledged write is stored');
  t.same(
    [...acked].filter(([k, rev]) => stored.get(k)?.modRevision !== rev),
    [],
    'at the revision it was acknowledged with',
  );
  t.same(
    kvs.filter((kv) => kv.version !== 1).map((kv) => kv.key),
    [],
    'no write applied twice',
  );
  t.equal(new Set(acked.values()).size, acked.size, 'each acknowledgement its own revision');

  await eventually(() => seen.length >= kvs.length || watchErrors.length > 0, 'the watch to catch up', 20_000);
  t.same(watchErrors, [], 'the watch survived the member');
  t.same(seen.map((e) => e.kv.key).sort(), kvs.map((kv) => kv.key).sort(), 'the watch saw every stored write once');
  t.ok(
    seen.every((e, i) => i === 0 || e.revision > seen[i - 1].revision),
    'in revision order',
  );
});

t.test('quorum lost: calls fail with SHOAL_ERR_NO_QUORUM, watches end; regained: writes work again', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const cluster = await cluster3(t);
  const store = await open(t, cluster);
  const before = await store.put('/q/before', 1);
  const watchErrors: Error[] = [];
  const w = store.watch('/q/', before.revision + 1, { onEvents: () => undefined, onError: (err) => watchErrors.push(err) });
  t.teardown(() => w.cancel());

  await cluster.kill(1);
  await cluster.kill(2);
  await t.rejects(store.put('/q/lost', 2), { code: 'SHOAL_ERR_NO_QUORUM' }, 'a put fails instead of hanging');
  await t.rejects(store.txn({ compare: [{ key: '/q/lost', modRevision: 0 }], success: [{ type: 'put', key: '/q/lost', value: 3 }] }), { code: 'SHOAL_ERR_NO_QUORUM' }, 'so does a txn');
  await t.rejects(store.get('/q/before'), { code: 'SHOAL_ERR_NO_QUORUM' }, 'and a read, which etcd serves through the leader');
  await eventually(() => watchErrors.length > 0, 'the watch to end', 20_000);
  t.match(watchErrors[0], { code: 'SHOAL_ERR_NO_QUORUM' }, 'the watch ends with an error instead of going quiet');

  cluster.restart(1);
  cluster.restart(2);
  await cluster.waitHealthy([0, 1, 2]);
  const after = await eventually(() => store.put('/q/after', 4).catch((err: Error) => (isTemporary(err) ? undefined : Promise.reject(err))), 'a put to succeed again', 20_000);
  t.ok(after.revision > before.revision, 'writes succeed again');
  t.equal((await store.get('/q/before'))?.value, 1, 'what was written before is still there');
  const events: WatchEvent[] = [];
  const again = store.watch('/q/', before.revision + 1, { onEvents: (e) => events.push(...e) });
  t.teardown(() => again.cancel());
  await eventually(() => events.some((e) => e.kv.key === '/q/after'), 'a new watch to replay the write');
});
