import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { CompactedError, CorruptStoreError, UnavailableError } from '../../src/errors';
import type { KeyValue } from '../../src/store/store';
import { encodeRecords } from '../../src/store/wal-record';
import { WalStore } from '../../src/store/wal-store';
import { storeCompliance } from './store-compliance';

async function tempDir(t: tap.Test): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'shoal-wal-'));
  t.teardown(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Open a store that the test closes at the end whatever happens. */
async function open(t: tap.Test, dir: string, options?: Parameters<typeof WalStore.open>[1]): Promise<WalStore> {
  const store = await WalStore.open(dir, options);
  t.teardown(() => store.close());
  return store;
}

async function segments(dir: string): Promise<string[]> {
  return (await fsp.readdir(path.join(dir, 'wal'))).sort();
}

async function lastSegment(dir: string): Promise<string> {
  const all = await segments(dir);
  return path.join(dir, 'wal', all[all.length - 1]);
}

async function everything(store: WalStore): Promise<KeyValue[]> {
  return (await store.range('')).kvs;
}

/** Writes of several kinds, each its own batch, so every record is a batch. */
async function writeSome(store: WalStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (i % 7 === 6) await store.delete(`/k/${i - 3}`);
    else if (i % 5 === 4) await store.txn({ compare: [{ key: `/k/${i - 1}`, modRevision: 0 }], success: [], failure: [{ type: 'put', key: `/k/${i - 1}`, value: { again: i } }] });
    else await store.put(`/k/${i % 11}`, { i, text: 'x'.repeat(i) });
  }
}

void storeCompliance(t, 'wal', async (options) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'shoal-wal-'));
  const store = await WalStore.open(dir, { historyLimit: options?.historyLimit });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
});

t.test('reopening finds every key, its revisions and the store revision', async (t) => {
  const dir = await tempDir(t);
  const first = await WalStore.open(dir);
  await writeSome(first, 40);
  await Promise.all(Array.from({ length: 50 }, (_, i) => first.put(`/burst/${i}`, i)));
  const before = await everything(first);
  const revision = first.revision();
  await first.close();

  const again = await open(t, dir);
  t.same(await everything(again), before);
  t.equal(again.revision(), revision);
  t.match(again.recovery, { revision, snapshotRevision: 0, replayedRecords: revision, tornTail: undefined });
  t.throws(() => again.watch('/', revision, { onEvents: () => undefined }), CompactedError, 'history did not survive: relist');
  const events: number[] = [];
  const w = again.watch('/', revision + 1, { onEvents: (e) => events.push(...e.map((x) => x.revision)) });
  t.teardown(() => w.cancel());
  t.same(await again.put('/new', 1), { revision: revision + 1 });
  t.same(events, [revision + 1], 'a watch from the next revision sees new writes');
});

t.test('snapshots bound the WAL and recovery replays only what follows them', async (t) => {
  const dir = await tempDir(t);
  const store = await WalStore.open(dir, { snapshotEvery: 10 });
  for (let i = 0; i < 33; i++) {
    if (i % 7 === 6) await store.delete(`/k/${(i - 1) % 11}`);
    else await store.put(`/k/${i % 11}`, { i });
  }
  const at33 = store.revision();
  t.equal(at33, 33);
  t.same(await fsp.readdir(path.join(dir, 'snap')), ['snapshot-0000000000000030.json']);
  t.same(await segments(dir), ['0000000000000031.wal'], 'segments the snapshot covers are gone');
  // One batch crossing the threshold snapshots at its end.
  await Promise.all(Array.from({ length: 12 }, (_, i) => store.put(`/b/${i}`, i)));
  t.same(await fsp.readdir(path.join(dir, 'snap')), [`snapshot-${String(at33 + 12).padStart(16, '0')}.json`]);
  await store.put('/after', 'snapshot');
  const before = await everything(store);
  await store.close();

  const again = await open(t, dir, { snapshotEvery: 10 });
  t.same(await everything(again), before);
  t.match(again.recovery, { revision: at33 + 13, snapshotRevision: at33 + 12, replayedRecords: 1 });
  t.same((await again.put('/more', 1)).revision, at33 + 14);
});

t.test('a torn tail is cut off, reported, and the store goes on', async (t) => {
  const tails: [string, (next: number) => Buffer, string][] = [
    ['half a record', (next) => encodeRecords([{ revision: next, batchStart: next, batchEnd: next, ops: [{ type: 'put', key: '/lost', value: 'never acknowledged' }] }]).subarray(0, 30), 'short-payload'],
    ['half a header', (next) => encodeRecords([{ revision: next, batchStart: next, batchEnd: next, ops: [] }]).subarray(0, 5), 'short-header'],
    ['zeros', () => Buffer.alloc(4096), 'bad-length'],
    ['a frame of garbage', () => Buffer.concat([Buffer.from([16, 0, 0, 0, 1, 2, 3, 4]), Buffer.from('sixteen bytes...')]), 'bad-checksum'],
  ];
  for (const [name, tail, reason] of tails) {
    await t.test(name, async (t) => {
      const dir = await tempDir(t);
      const store = await WalStore.open(dir);
      await writeSome(store, 20);
      const before = await everything(store);
      const revision = store.revision();
      await store.close();
      const file = await lastSegment(dir);
      const size = (await fsp.stat(file)).size;
      await fsp.appendFile(file, tail(revision + 1));

      const again = await WalStore.open(dir);
      t.same(await everything(again), before);
      t.equal(again.revision(), revision);
      t.match(again.recovery.tornTail, { offset: size, reason, droppedBytes: tail(revision + 1).length });
      t.equal((await fsp.stat(file)).size, size, 'the segment is truncated to its valid prefix');
      t.same(await again.put('/next', 1), { revision: revision + 1 });
      await again.close();

      const third = await open(t, dir);
      t.equal(third.recovery.tornTail, undefined, 'nothing torn the second time');
      t.equal((await third.get('/next'))?.modRevision, revision + 1);
    });
  }
});

t.test('corruption before the end of the WAL is a CorruptStoreError', async (t) => {
  const dir = await tempDir(t);
  const store = await WalStore.open(dir);
  await writeSome(store, 10);
  await store.close();
  const file = await lastSegment(dir);
  const buf = await fsp.readFile(file);
  buf[40] ^= 0x01; // inside the first record's payload; nine fsynced batches follow
  await fsp.writeFile(file, buf);
  await t.rejects(WalStore.open(dir), CorruptStoreError);
  await t.rejects(WalStore.open(dir), CorruptStoreError, 'a failed open releases the lock');
  t.equal((await fsp.readFile(file)).length, buf.length, 'a corrupt WAL is left untouched');
});

t.test('a damaged snapshot whose WAL is gone is a CorruptStoreError', async (t) => {
  const dir = await tempDir(t);
  const store = await WalStore.open(dir, { snapshotEvery: 5 });
  await writeSome(store, 12);
  await store.close();
  const [snap] = await fsp.readdir(path.join(dir, 'snap'));
  const file = path.join(dir, 'snap', snap);
  const buf = await fsp.readFile(file);
  buf[buf.length - 10] ^= 0x01;
  await fsp.writeFile(file, buf);
  await t.rejects(WalStore.open(dir, { snapshotEvery: 5 }), CorruptStoreError);
});

t.test('leftover temporary snapshot files are ignored and removed', async (t) => {
  const dir = await tempDir(t);
  const store = await WalStore.open(dir, { snapshotEvery: 5 });
  await writeSome(store, 7);
  const before = await everything(store);
  await store.close();
  const temp = path.join(dir, 'snap', 'snapshot-0000000000000010.json.123.tmp');
  await fsp.writeFile(temp, '{"format":1,"rev');
  const again = await open(t, dir, { snapshotEvery: 5 });
  t.same(await everything(again), before);
  await t.rejects(fsp.stat(temp), { code: 'ENOENT' });
});

t.test('the lock keeps a second opener out and stale locks are taken over', async (t) => {
  const dir = await tempDir(t);
  const store = await WalStore.open(dir);
  await t.rejects(WalStore.open(dir), UnavailableError, 'open twice in one process');
  t.equal((await fsp.readFile(path.join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid));
  await store.close();
  await t.rejects(fsp.stat(path.join(dir, 'LOCK')), { code: 'ENOENT' }, 'close removes the lock');

  // A live process's lock (our parent's pid stands in for another daemon).
  await fsp.writeFile(path.join(dir, 'LOCK'), `${process.ppid}\n`);
  await t.rejects(WalStore.open(dir), UnavailableError, 'locked by a live process');

  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const deadPid = child.pid!;
  await new Promise((resolve) => child.once('exit', resolve));
  for (const [name, content] of [
    ['a dead pid', `${deadPid}\n`],
    ['our own pid from an earlier life', `${process.pid}\n`],
    ['no pid', ''],
  ]) {
    await fsp.writeFile(path.join(dir, 'LOCK'), content);
    const reopened = await WalStore.open(dir);
    t.pass(`stale lock with ${name} taken over`);
    await reopened.close();
  }
});

t.test('metrics count WAL writes and snapshots', async (t) => {
  const dir = await tempDir(t);
  const registry = new Registry();
  const store = await WalStore.open(dir, { snapshotEvery: 3 }, { registry });
  t.teardown(() => store.close());
  for (let i = 0; i < 4; i++) await store.put(`/m/${i}`, i);
  const text = await registry.metrics();
  t.match(text, /shoal_store_wal_records_total 4\n/);
  t.match(text, /shoal_store_snapshots_total\{result="ok"\} 1\n/);
  t.match(text, /shoal_store_wal_append_duration_seconds_count 4\n/);
});
