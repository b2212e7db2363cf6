/**
 * Why tasks fail and what they printed, through the real CLI on a two-node
 * cluster (block 127.0.64.k, DNS port 5364): a crashing service's error
 * names its stderr cause, RESTARTS counts up, `service ps --filter` and
 * `service logs` with timestamps, since, a task id and `-f`.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { eventually } from '../support/eventually';
import { CLI, tempDir, TestCluster, clusterWait, type PsRow } from './cluster-fixture';

const BLOCK = 64;
const DNS = 5364;
const LOG_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (\w+)\.(\d+)\.([a-z0-9]{12})@(node-\d)    \| (.*)$/;

interface Row extends PsRow {
  Error: string;
  Restarts: number;
}

t.test('task errors, restarts, ps filters and logs', async (t) => {
  const dir = tempDir(t, 'task-logs');
  const c = new TestCluster(t, dir, BLOCK, DNS);
  await c.up(2);

  const crash = "console.log('hello ' + process.env.SHOAL_TASK_ID); setTimeout(() => { console.error('about to fail'); throw new Error('kaboom 42'); }, 300)";
  let r = await c.cli('service', 'create', '--name', 'crashy', '--replicas', '2', '--restart-delay', '300ms', '-d', '--', 'node', '-e', crash);
  t.equal(r.code, 0, r.stderr);
  const cause = 'task: non-zero exit (1): Error: kaboom 42';

  const rows = await eventually(async () => {
    const ps = await c.json<Row[]>('service', 'ps', 'crashy');
    return ps.some((x) => x.DesiredState === 'Running' && x.Restarts >= 2) && ps.some((x) => x.Error === cause) && ps;
  }, 'a restarted slot', clusterWait(60_000));
  t.ok(rows.some((x) => x.Error === cause), 'JSON Error names the stderr cause');

  r = await c.cli('service', 'ps', '--no-trunc', 'crashy');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `"${cause}"`, '--no-trunc shows the whole error');
  const header = r.stdout.split('\n')[0];
  t.match(header, /ERROR\s+PORTS\s+RESTARTS$/, 'RESTARTS is the last column');
  const currentLines = r.stdout.split('\n').slice(1).filter((l) => /^\S+\s+crashy\.\d/.test(l));
  t.ok(currentLines.some((l) => Number(l.trim().split(/\s+/).at(-1)) > 0), 'a current task shows RESTARTS > 0');
  const truncated = await c.cli('service', 'ps', 'crashy');
  t.notMatch(truncated.stdout, cause, 'the table cuts long errors by default');

  const ls = await c.json<{ Name: string; Restarts: number; Error: string }[]>('service', 'ls');
  t.ok(ls.find((s) => s.Name === 'crashy')!.Restarts > 0, 'service ls: restarts');

  const history = await c.json<Row[]>('service', 'ps', '--filter', 'desired-state=shutdown', 'crashy');
  t.ok(history.length > 0, 'there is history');
  t.ok(history.every((x) => x.DesiredState === 'Shutdown'), '--filter desired-state=shutdown: only history');
  for (const node of ['node-1', 'node-2']) {
    const onNode = await c.json<Row[]>('service', 'ps', '-f', `node=${node}`, 'crashy');
    t.ok(onNode.every((x) => x.Node === node), `--filter node=${node}`);
  }
  const both = await c.json<Row[]>('service', 'ps', '-f', 'node=node-1', '-f', 'node=node-2', '-f', 'desired-state=running', 'crashy');
  t.ok(both.length > 0 && both.every((x) => x.DesiredState === 'Running'), 'same key OR, different keys AND');

  // Logs with timestamps: every line has its time, the task's prefix and what the task printed.
  r = await c.cli('service', 'logs', '--timestamps', '--tail', 'all', 'crashy');
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean);
  t.ok(lines.length > 0 && lines.every((l) => LOG_LINE.test(l)), 'every line: RFC3339Nano time, task@node | text');
  t.ok(lines.some((l) => / \| hello [a-z0-9]{25}$/.test(l)), 'stdout lines are there');
  t.ok(lines.some((l) => l.endsWith('| Error: kaboom 42')), 'stderr lines are there');
  const times = lines.map((l) => LOG_LINE.exec(l)![1]);
  t.same([...times].sort(), times, 'lines of several tasks merged in time order');

  // --since: from the time of a line in the middle, that line and later ones only.
  const mid = times[Math.floor(times.length / 2)];
  r = await c.cli('service', 'logs', '-t', '--tail', 'all', '--since', mid, 'crashy');
  t.equal(r.code, 0, r.stderr);
  const sinceTimes = r.stdout.split('\n').filter(Boolean).map((l) => LOG_LINE.exec(l)![1]);
  t.ok(sinceTimes.length > 0 && sinceTimes.every((x) => x >= mid), '--since RFC3339: nothing older');
  t.ok(sinceTimes.length < times.length + 20, 'fewer lines than the whole log, give or take what came meanwhile');
  r = await c.cli('service', 'logs', '--since', '1h', 'crashy');
  t.ok(r.code === 0 && r.stdout.includes('| hello '), '--since as a duration');

  // A task id (a unique prefix): that task's log only. The newest history task, looked up now: a crash loop trims old history fast.
  const one = (await c.json<Row[]>('service', 'ps', '-f', 'desired-state=shutdown', 'crashy'))[0];
  r = await c.cli('service', 'logs', one.ID.slice(0, 10));
  t.equal(r.code, 0, r.stderr);
  const taskLines = r.stdout.split('\n').filter(Boolean);
  t.ok(taskLines.length > 0 && taskLines.every((l) => l.startsWith(`crashy.${one.Slot}.${one.ID.slice(0, 12)}@`)), 'only the lines of that task');
  t.ok(taskLines.some((l) => l.endsWith(`| hello ${one.ID}`)), 'its own hello');

  // A command that cannot run: one clear message.
  r = await c.cli('service', 'create', '--name', 'nobin', '-d', '--', '/no/such/bin');
  t.equal(r.code, 0, r.stderr);
  await eventually(async () =>
    (await c.json<Row[]>('service', 'ps', 'nobin')).some((x) => x.Error === 'task: exec: "/no/such/bin": no such file or directory'), 'nobin to fail', clusterWait());
  t.pass('a missing command names itself');

  // Bad input: one line on stderr, exit 1, nothing on stdout.
  const bad: [string[], RegExp][] = [
    [['service', 'logs', '--tail', '-1', 'crashy'], /invalid tail "-1"/],
    [['service', 'logs', '--tail', 'x', 'crashy'], /invalid tail "x"/],
    [['service', 'logs', '--since', 'yesterday', 'crashy'], /invalid since "yesterday"/],
    [['service', 'logs', 'nosuchthing'], /no such service or task: nosuchthing/],
    [['service', 'ps', '-f', 'foo', 'crashy'], /invalid filter 'foo'/],
    [['service', 'ps', '-f', 'desired-state=sleepy', 'crashy'], /invalid filter 'desired-state=sleepy'/],
  ];
  for (const [args, re] of bad) {
    const b = await c.cli(...args);
    t.equal(b.code, 1, `${args.join(' ')}: exit 1`);
    t.equal(b.stderr.split('\n').filter(Boolean).length, 1, `${args.join(' ')}: one line (${b.stderr.trim()})`);
    t.match(b.stderr, re, `${args.join(' ')}: says what`);
    t.equal(b.stdout, '', `${args.join(' ')}: nothing on stdout`);
  }
});

t.test('service logs -f streams lines written after it started, and tasks that start later', async (t) => {
  const dir = tempDir(t, 'task-follow');
  const c = new TestCluster(t, dir, BLOCK, DNS);
  await c.up(1);
  const go = path.join(dir, 'go');
  let r = await c.cli('service', 'create', '--name', 'waiter', '-d', '--', 'sh', '-c', `echo ready; while [ ! -e ${go} ]; do sleep 0.1; done; echo after-start; exec sleep 1000`);
  t.equal(r.code, 0, r.stderr);
  r = await c.cli('service', 'create', '--name', 'looper', '--restart-delay', '200ms', '-d', '--', 'sh', '-c', 'echo "hello $SHOAL_TASK_ID"; sleep 0.3; exit 3');
  t.equal(r.code, 0, r.stderr);
  await eventually(async () => (await c.cli('service', 'logs', 'waiter')).stdout.includes('| ready'), 'waiter ready', clusterWait());

  const follow = (service: string) => {
    const child = spawn(process.execPath, [CLI, '-H', c.host, 'service', 'logs', '-f', service], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { text: '', err: '' };
    child.stdout.on('data', (d) => (out.text += d));
    child.stderr.on('data', (d) => (out.err += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    t.teardown(() => void child.kill('SIGKILL'));
    return { child, out, exited };
  };

  const waiter = follow('waiter');
  await eventually(() => waiter.out.text.includes('| ready'), 'the follower to show what is there', clusterWait());
  writeFileSync(go, '');
  await eventually(() => waiter.out.text.includes('| after-start'), 'a line written after the follower started', clusterWait());
  t.pass('-f received a line written after it started');
  waiter.child.kill('SIGINT');
  t.equal(await waiter.exited, 0, 'Ctrl-C ends the follow with exit 0');

  const before = new Set((await c.json<Row[]>('service', 'ps', 'looper')).map((x) => x.ID));
  const looper = follow('looper');
  const later = await eventually(() => {
    const m = [...looper.out.text.matchAll(/\| hello ([a-z0-9]+)$/gm)].map((x) => x[1]).find((id) => !before.has(id));
    return m;
  }, 'a line of a task that started after the follower', clusterWait(30_000));
  t.ok(later, 'the follower picked up a restarted task');
  looper.child.kill('SIGINT');
  t.equal(await looper.exited, 0);
  t.equal(looper.out.err, '', 'no errors');
});
