import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { parseRecord } from '../../../src/agent/executor/log-record';
import { TaskLogWriter } from '../../../src/agent/executor/task-log-writer';
import { eventually } from '../../support/eventually';
import { logger, tmpdir } from './fixtures/harness';

/** A clock that counts nanoseconds from a fixed start. */
function fakeClock() {
  let ns = 1_700_000_000_000_000_000n;
  return () => (ns += 1n);
}

const readRecords = (file: string) =>
  fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(parseRecord);

t.test('each stream in order, tagged, the end of a partial line at stream end', async (t) => {
  const file = path.join(tmpdir(t), 'output.log');
  const w = new TaskLogWriter({ logger, nowNs: fakeClock() }, file);
  const out = new PassThrough();
  const err = new PassThrough();
  w.attach(out, 'out');
  w.attach(err, 'err');
  out.write('o1\no2\n');
  err.write('e1\n');
  out.end('tail without newline');
  err.end();
  await w.finish(1_000);
  const records = readRecords(file);
  t.same(records.map((r) => [r.s, r.l, !!r.p]), [['out', 'o1', false], ['out', 'o2', false], ['err', 'e1', false], ['out', 'tail without newline', false]]);
  t.same(w.recent('err'), ['e1']);
  t.same(w.recent('out'), ['o1', 'o2', 'tail without newline']);
  t.equal(records[0].t, '2023-11-14T22:13:20.000000001Z', 'time from the injected clock');
});

t.test('a partial line is written after the flush delay, marked as a fragment', async (t) => {
  const file = path.join(tmpdir(t), 'output.log');
  const w = new TaskLogWriter({ logger, nowNs: fakeClock() }, file, { flushDelayMs: 10 });
  const out = new PassThrough();
  w.attach(out, 'out');
  out.write('prompt> ');
  await eventually(() => fs.readFileSync(file, 'utf8').includes('prompt'), 'the fragment on disk');
  out.end('answer\n');
  await w.finish(1_000);
  t.same(readRecords(file).map((r) => [r.l, !!r.p]), [['prompt> ', true], ['answer', false]]);
});

t.test('a slow log never holds the task forever: lines are written or counted as dropped', async (t) => {
  const file = path.join(tmpdir(t), 'output.log');
  // A buffer of one byte and no patience: nearly every write waits for the disk and the stall gives up at once.
  const w = new TaskLogWriter({ logger, nowNs: fakeClock() }, file, { bufferMaxBytes: 1, stallMs: 0 });
  const out = new PassThrough();
  w.attach(out, 'out');
  const total = 5_000;
  for (let i = 0; i < total; i++) out.write(`line ${i}\n`);
  out.end();
  await w.finish(5_000);
  const records = readRecords(file);
  const notes = records.filter((r) => r.s === 'err');
  const dropped = notes.reduce((n, r) => n + Number(/(\d+) log lines? dropped/.exec(r.l)![1]), 0);
  const kept = records.filter((r) => r.s === 'out').map((r) => Number(r.l.split(' ')[1]));
  t.equal(kept.length + dropped, total, 'every line is either in the file or counted');
  t.ok(kept.every((v, i) => i === 0 || v > kept[i - 1]), 'kept lines stay in order');
});

t.test('finish gives up on a pipe held open, and keeps what came', async (t) => {
  const file = path.join(tmpdir(t), 'output.log');
  const w = new TaskLogWriter({ logger, nowNs: fakeClock() }, file);
  const out = new PassThrough();
  w.attach(out, 'out');
  out.write('last words\nhalf');
  await w.finish(50);
  t.same(readRecords(file).map((r) => r.l), ['last words', 'half']);
  t.ok(out.destroyed, 'the held pipe is closed');
});
