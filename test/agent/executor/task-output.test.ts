/**
 * What a task prints, as the executor keeps it: records per stream with
 * their times, partial and long lines, and the cause a failed task's status
 * names. Real processes.
 */
import t from 'tap';
import { MAX_LINE_BYTES } from '../../../src/agent/executor/log-record';
import { forever, harness, script } from './fixtures/harness';
import { makeTask } from './fixtures/task';

t.test('a failed task names the telling line of its output', async (t) => {
  const h = harness(t);
  const cases = [
    { id: 'sh-3', argv: ['sh', '-c', 'echo starting; echo boom >&2; exit 3'], message: 'task: non-zero exit (3): boom', exitCode: 3 },
    { id: 'node-throw', argv: script("console.log('up'); throw new Error('kaboom')"), message: 'task: non-zero exit (1): Error: kaboom', exitCode: 1 },
    { id: 'stdout-only', argv: ['sh', '-c', 'echo no config found; exit 2'], message: 'task: non-zero exit (2): no config found', exitCode: 2 },
    { id: 'silent', argv: ['sh', '-c', 'exit 4'], message: 'task: non-zero exit (4)', exitCode: 4 },
    { id: 'segv', argv: ['sh', '-c', 'echo about to crash >&2; kill -SEGV $$'], message: 'killed by signal SIGSEGV: about to crash', exitCode: 139 },
    { id: 'ok', argv: ['sh', '-c', 'echo fine >&2; exit 0'], message: 'finished', exitCode: 0 },
  ];
  await Promise.all(cases.map((c) => h.run(makeTask(c.id, c.argv))));
  for (const c of cases) {
    const last = (await h.final(c.id)).at(-1)!;
    t.match(last, { message: c.message, exitCode: c.exitCode }, c.id);
  }
  const records = await h.ex.logs('sh-3');
  t.same(records.map((r) => [r.s, r.l]), [['out', 'starting'], ['err', 'boom']], 'both lines kept, tagged by stream');
});

t.test('a command that cannot be found fails before it runs, with one clear message and an empty log', async (t) => {
  const h = harness(t);
  await h.run(makeTask('nx', ['/no/such/bin', '--flag']));
  t.match(await h.final('nx'), [{ state: 'starting' }, { state: 'failed', message: 'task: exec: "/no/such/bin": no such file or directory' }]);
  t.same(await h.ex.logs('nx'), [], 'its log exists and is empty');
});

t.test('a partial line is written at exit, and after the flush delay while the task runs', async (t) => {
  const h = harness(t);
  await h.run(makeTask('partial-exit', script("process.stdout.write('no newline at all')")));
  await h.final('partial-exit');
  t.same((await h.ex.logs('partial-exit')).map((r) => [r.s, r.l, !!r.p]), [['out', 'no newline at all', false]]);

  await h.run(makeTask('prompt', script("process.stdout.write('prompt> ');" + forever), {}, { stopGracePeriodMs: 300 }));
  await h.logLine('prompt', 'prompt> ');
  t.same((await h.ex.logs('prompt')).map((r) => [r.l, !!r.p]), [['prompt> ', true]], 'flushed before its newline, marked as a fragment');
  await h.ex.stop('prompt');
});

t.test('a very long line is split at the limit', async (t) => {
  const h = harness(t);
  const len = MAX_LINE_BYTES * 2 + 100;
  await h.run(makeTask('long', script(`console.log('x'.repeat(${len}))`)));
  await h.final('long');
  const records = await h.ex.logs('long');
  t.same(records.map((r) => [r.l.length, !!r.p]), [[MAX_LINE_BYTES, true], [MAX_LINE_BYTES, true], [100, false]]);
  t.equal(await h.logText('long'), 'x'.repeat(len) + '\n', 'the pieces join back into the line');
});

t.test('a task that writes a lot runs to its end with every line kept in order', async (t) => {
  const h = harness(t);
  const n = 100_000;
  await h.run(makeTask('chatty', script(`for (let i = 0; i < ${n}; i++) console.log('line ' + i); console.error('done')`)));
  t.match((await h.final('chatty')).at(-1), { state: 'complete' });
  const records = await h.ex.logs('chatty');
  const out = records.filter((r) => r.s === 'out').map((r) => r.l);
  t.equal(out.length, n);
  t.ok(out.every((l, i) => l === `line ${i}`), 'in order');
  t.same(records.filter((r) => r.s === 'err').map((r) => r.l), ['done']);
});

t.test('closing the executor keeps the last lines a stopping task writes', async (t) => {
  const h = harness(t);
  const js = "process.on('SIGTERM', () => { for (let i = 0; i < 3; i++) console.log('bye ' + i); process.stdout.write('gone'); process.exit(0); }); console.log('ready');" + forever;
  await h.run(makeTask('last-words', script(js)));
  await h.logLine('last-words', 'ready');
  await h.ex.close();
  t.same((await h.ex.logs('last-words')).map((r) => r.l), ['ready', 'bye 0', 'bye 1', 'bye 2', 'gone']);
});

t.test('following a log: what is there, then new lines, until the task ends', async (t) => {
  const h = harness(t);
  const js = "console.log('first'); process.stdin; setTimeout(() => { console.error('second'); setTimeout(() => console.log('third'), 100); }, 300);";
  await h.run(makeTask('follow', script(js)));
  await h.logLine('follow', 'first');
  const seen: string[] = [];
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  await h.ex.followLogs('follow', {}, (rs) => seen.push(...rs.map((r) => `${r.s}:${r.l}`)), abort.signal);
  t.same(seen, ['out:first', 'err:second', 'out:third'], 'the follow ended with the task, after its last line');
  await t.rejects(h.ex.followLogs('never-ran', {}, () => undefined, abort.signal), { code: 'SHOAL_ERR_NOT_FOUND' });
});
