/**
 * The store's crash-safety promise, tested with a real crash: a child process
 * writes through a WalStore and is SIGKILLed mid-burst; every write it had
 * acknowledged must be there after recovery, with consecutive revisions.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import t from 'tap';
import { encodeRecords } from '../../src/store/wal-record';
import { WalStore } from '../../src/store/wal-store';

const WRITER = path.join(__dirname, 'fixtures', 'writer.js');
/** Acknowledged writes to wait for before the kill. */
const KILL_AFTER_ACKS = 2000;
/** Small, so the burst crosses several snapshots and segment switches. */
const SNAPSHOT_EVERY = 500;
/** How long the writer may take to reach KILL_AFTER_ACKS before the test fails. */
const WRITER_TIMEOUT_MS = 60_000;

interface Value {
  round: string;
  n: number;
}

/** Run the writer until KILL_AFTER_ACKS acks, SIGKILL it, and return every ack it printed. */
async function crashWriter(t: tap.Test, dir: string, round: string): Promise<Map<string, number>> {
  const child = spawn(process.execPath, [WRITER, dir, round, String(SNAPSHOT_EVERY)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const acked = new Map<string, number>();
  const lines = readline.createInterface({ input: child.stdout });
  const drained = once(lines, 'close');
  lines.on('line', (line) => {
    const [key, revision] = line.split(' ');
    acked.set(key, Number(revision));
    if (acked.size === KILL_AFTER_ACKS) child.kill('SIGKILL');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), WRITER_TIMEOUT_MS);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  await drained;
  clearTimeout(timer);
  if (signal !== 'SIGKILL' || acked.size < KILL_AFTER_ACKS) {
    throw new Error(`writer ended with code ${code}, signal ${signal} after ${acked.size} acks: ${stderr}`);
  }
  return acked;
}

/** Reopen the store and check every acknowledged write and the revision sequence. */
async function verify(t: tap.Test, dir: string, acked: Map<string, number>): Promise<WalStore> {
  const store = await WalStore.open(dir, { snapshotEvery: SNAPSHOT_EVERY });
  t.teardown(() => store.close());
  const { kvs } = await store.range<Value>('/crash/');
  const byKey = new Map(kvs.map((kv) => [kv.key, kv]));
  const lost: string[] = [];
  const wrong: string[] = [];
  for (const [key, revision] of acked) {
    const kv = byKey.get(key);
    if (!kv) lost.push(key);
    else if (kv.modRevision !== revision || `/crash/${kv.value.round}/${kv.value.n}` !== key) wrong.push(key);
  }
  t.same(lost.slice(0, 10), [], `none of ${acked.size} acknowledged writes lost`);
  t.same(wrong.slice(0, 10), [], 'every acknowledged write has its value and revision');
  // Every write in these tests is a put of a new key, so each revision is one key's modRevision.
  const revisions = (await store.range('')).kvs.map((kv) => kv.modRevision).sort((a, b) => a - b);
  t.ok(
    revisions.length === store.revision() && revisions.every((r, i) => r === i + 1),
    `revisions 1..${store.revision()} each hold one write, no gaps (${revisions.length} keys)`,
  );
  t.ok(store.revision() >= Math.max(...acked.values()), 'the store is at least at the last acknowledged revision');
  return store;
}

async function tempDir(t: tap.Test): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'shoal-crash-'));
  t.teardown(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('SIGKILL mid-burst loses no acknowledged write, twice in a row', async (t) => {
  const dir = await tempDir(t);
  const first = await crashWriter(t, dir, 'a');
  const store = await verify(t, dir, first);
  const revision = store.revision();
  t.same(await store.put('/after/a', 1), { revision: revision + 1 }, 'the recovered store takes new writes');
  await store.close();

  // The store goes on after recovery, crosses more snapshots and crashes again.
  const second = await crashWriter(t, dir, 'b');
  const again = await verify(t, dir, new Map([...first, ...second]));
  t.equal((await again.get('/after/a'))?.modRevision, revision + 1);
});

t.test('SIGKILL, then a tail torn by hand: the torn record is dropped, nothing acknowledged is', async (t) => {
  const dir = await tempDir(t);
  const acked = await crashWriter(t, dir, 'a');
  const segments = (await fsp.readdir(path.join(dir, 'wal'))).sort();
  const last = path.join(dir, 'wal', segments[segments.length - 1]);
  const size = (await fsp.stat(last)).size;
  const next = Math.max(...acked.values()) + 1_000;
  const frame = encodeRecords([{ revision: next, batchStart: next, batchEnd: next, ops: [{ type: 'put', key: '/torn', value: 'x'.repeat(100) }] }]);
  await fsp.appendFile(last, frame.subarray(0, frame.length - 40));

  const store = await verify(t, dir, acked);
  t.match(store.recovery.tornTail, { offset: size, reason: 'short-payload' }, 'the torn record was found and cut');
  t.equal(await store.get('/torn'), undefined);
  const revision = store.revision();
  t.same(await store.put('/after', 1), { revision: revision + 1 });
  await store.close();
  const reopened = await verify(t, dir, acked);
  t.equal(reopened.recovery.tornTail, undefined);
  t.equal((await reopened.get('/after'))?.modRevision, revision + 1);
});
