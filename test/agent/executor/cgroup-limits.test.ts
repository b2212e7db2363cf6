import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { CGROUP2_SUPER_MAGIC, CGROUP_ROOT, CgroupLimits, TASKS_CGROUP, cpuMaxLine, hasLimits, joinCgroupArgv } from '../../../src/agent/executor/cgroup-limits';
import { eventually } from '../../support/eventually';
import { forever, harness, logger, script, tmpdir, type Tap } from './fixtures/harness';
import { makeTask } from './fixtures/task';

const OWN = '/shoal-test.service';
const MIB = 1024 * 1024;

/**
 * A cgroup2-shaped directory tree: real cgroupfs files are plain files here,
 * so what the limiter writes (and what the join wrapper writes) can be read
 * back on any host, cgroup v2 or not.
 */
function fakeHierarchy(t: Tap, controllers = 'cpuset cpu io memory pids') {
  const root = tmpdir(t);
  const base = path.join(root, OWN);
  fs.mkdirSync(base);
  fs.writeFileSync(path.join(base, 'cgroup.controllers'), controllers + '\n');
  fs.writeFileSync(path.join(base, 'cgroup.subtree_control'), '');
  const limits = new CgroupLimits(
    {
      logger,
      isCgroup2: async () => true,
      ownCgroup: async () => OWN,
      // cgroupfs lets rmdir remove a cgroup with its interface files; a plain directory needs rm -r.
      removeDir: async (dir) => {
        if (!fs.existsSync(dir)) throw Object.assign(new Error('gone'), { code: 'ENOENT' });
        fs.rmSync(dir, { recursive: true });
      },
    },
    { root },
  );
  return { root, base, tasks: path.join(base, TASKS_CGROUP), limits };
}

const read = (file: string) => fs.readFileSync(file, 'utf8');

t.test('cpu.max lines from nano-CPUs', async (t) => {
  for (const [nanoCpus, want] of [
    [1e9, '100000 100000'],
    [0.5e9, '50000 100000'],
    [2.5e9, '250000 100000'],
    [1e6, '1000 100000'],
  ] as const) {
    t.equal(cpuMaxLine(nanoCpus), want, `${nanoCpus} nano-CPUs`);
  }
});

t.test('hasLimits: only positive values are limits', async (t) => {
  t.equal(hasLimits(undefined), false);
  t.equal(hasLimits({}), false);
  t.equal(hasLimits({ nanoCpus: 0, memoryBytes: 0 }), false);
  t.equal(hasLimits({ nanoCpus: 1e9 }), true);
  t.equal(hasLimits({ memoryBytes: MIB }), true);
});

t.test('prepare enables the controllers down to a per-task cgroup and writes cpu.max and memory.max', async (t) => {
  const h = fakeHierarchy(t);
  const setup = await h.limits.prepare('task-a', { nanoCpus: 0.5e9, memoryBytes: 64 * MIB });
  t.same(setup, { applied: true, dir: path.join(h.tasks, 'task-a'), procsFile: path.join(h.tasks, 'task-a', 'cgroup.procs') });
  t.equal(read(path.join(h.base, 'cgroup.subtree_control')), '+cpu +memory');
  t.equal(read(path.join(h.tasks, 'cgroup.subtree_control')), '+cpu +memory');
  t.equal(read(path.join(h.tasks, 'task-a', 'cpu.max')), '50000 100000');
  t.equal(read(path.join(h.tasks, 'task-a', 'memory.max')), String(64 * MIB));
  const memOnly = await h.limits.prepare('task-b', { memoryBytes: 32 * MIB });
  t.equal(memOnly.applied, true);
  t.notOk(fs.existsSync(path.join(h.tasks, 'task-b', 'cpu.max')), 'no cpu.max without a cpu limit');
  await h.limits.remove('task-a');
  t.notOk(fs.existsSync(path.join(h.tasks, 'task-a')), 'remove deletes the task cgroup');
  await h.limits.remove('task-a');
  t.pass('removing twice is fine');
});

t.test('a controller that is not available is a reason, not an error', async (t) => {
  const h = fakeHierarchy(t, 'cpu io pids');
  t.same(await h.limits.prepare('task-a', { nanoCpus: 1e9 }), { applied: true, dir: path.join(h.tasks, 'task-a'), procsFile: path.join(h.tasks, 'task-a', 'cgroup.procs') });
  const r = await h.limits.prepare('task-b', { memoryBytes: MIB });
  t.equal(r.applied, false);
  if (!r.applied) t.match(r.reason, /memory controller is not available/);
});

t.test('no cgroup v2: every prepare says why', async (t) => {
  const limits = new CgroupLimits({ logger, isCgroup2: async () => false, ownCgroup: async () => '/' }, { root: '/nonexistent/cgroup' });
  t.same(await limits.prepare('task-a', { nanoCpus: 1e9 }), { applied: false, reason: 'cgroup v2 not mounted at /nonexistent/cgroup' });
  await limits.remove('task-a');
  t.pass('remove without cgroups does nothing');
});

t.test('the join wrapper puts the process in the cgroup before exec', async (t) => {
  const dir = tmpdir(t);
  const procs = path.join(dir, 'cgroup.procs');
  const out = path.join(dir, 'out');
  const argv = joinCgroupArgv(procs, process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(out)}, String(process.pid))`]);
  const r = spawnSync(argv.file, argv.args);
  t.equal(r.status, 0);
  t.equal(read(procs).trim(), read(out), 'the pid written is the task pid: the shell exec-ed into it');
  const cannot = joinCgroupArgv(path.join(dir, 'missing', 'cgroup.procs'), '/bin/true', []);
  const failed = spawnSync(cannot.file, cannot.args);
  t.equal(failed.status, 125, 'a task that cannot join does not run unlimited');
  t.match(failed.stderr.toString(), /cannot join cgroup/);
});

t.test('executor: a task with limits runs in its cgroup, which is removed after it exits', async (t) => {
  const h = fakeHierarchy(t);
  const ex = harness(t, {}, { cgroups: h.limits });
  const task = makeTask('lim-1', script(forever), {}, { resources: { limits: { nanoCpus: 1.5e9, memoryBytes: 128 * MIB } } });
  await ex.run(task);
  const running = ex.events.find((e) => e.taskId === 'lim-1' && e.state === 'running')!;
  t.equal(running.message, 'started');
  const cg = path.join(h.tasks, 'lim-1');
  t.equal(read(path.join(cg, 'cpu.max')), '150000 100000');
  t.equal(read(path.join(cg, 'memory.max')), String(128 * MIB));
  await eventually(() => fs.existsSync(path.join(cg, 'cgroup.procs')) && read(path.join(cg, 'cgroup.procs')).trim() !== '', 'the task joined its cgroup');
  t.equal(read(path.join(cg, 'cgroup.procs')).trim(), String(running.pid));
  await ex.ex.stop('lim-1', 1_000);
  await eventually(() => !fs.existsSync(cg), 'the task cgroup is removed');
  t.pass('removed');
});

t.test('executor: where limits cannot be applied the task runs and its running message says why', async (t) => {
  const limits = new CgroupLimits({ logger, isCgroup2: async () => false }, { root: '/nonexistent/cgroup' });
  const ex = harness(t, {}, { cgroups: limits });
  await ex.run(makeTask('lim-2', script(forever), {}, { resources: { limits: { memoryBytes: 64 * MIB } } }));
  const running = ex.events.find((e) => e.taskId === 'lim-2' && e.state === 'running');
  t.ok(running, 'the task runs');
  t.equal(running?.message, 'started; limits not applied: cgroup v2 not mounted at /nonexistent/cgroup');
  await ex.run(makeTask('lim-3', script(forever)));
  t.equal(ex.events.find((e) => e.taskId === 'lim-3' && e.state === 'running')?.message, 'started', 'no limits asked, nothing said');
});

t.test('the real cgroup v2 hierarchy, where this host has one', async (t) => {
  let why: string | null = null;
  try {
    if (Number((await fs.promises.statfs(CGROUP_ROOT)).type) !== CGROUP2_SUPER_MAGIC) why = `${CGROUP_ROOT} is not a cgroup2 mount (cgroup v1 or hybrid)`;
  } catch (err) {
    why = `${CGROUP_ROOT}: ${(err as Error).message}`;
  }
  if (!why && process.getuid?.() !== 0) why = 'not root, cgroupfs not writable';
  if (why) {
    t.plan(0, `memory.max/cpu.max not checked on the real kernel: ${why}`);
    return;
  }
  const limits = new CgroupLimits({ logger });
  const ex = harness(t, {}, { cgroups: limits });
  await ex.run(makeTask('lim-real', script(forever), {}, { resources: { limits: { nanoCpus: 0.5e9, memoryBytes: 64 * MIB } } }));
  const running = ex.events.find((e) => e.taskId === 'lim-real' && e.state === 'running')!;
  if (running.message !== 'started') {
    t.plan(0, `memory.max/cpu.max not checked on the real kernel: cgroup v2 present but not usable here: ${running.message}`);
    return;
  }
  const own = read(`/proc/${running.pid}/cgroup`).split('\n').find((l) => l.startsWith('0::'))!.slice(3);
  const dir = path.join(CGROUP_ROOT, own);
  t.match(own, new RegExp(`/${TASKS_CGROUP}/lim-real$`), 'the task process is in its own cgroup');
  t.equal(read(path.join(dir, 'cpu.max')).trim(), '50000 100000');
  t.equal(read(path.join(dir, 'memory.max')).trim(), String(64 * MIB));
  await ex.ex.stop('lim-real', 1_000);
  await eventually(() => !fs.existsSync(dir), 'the task cgroup is removed');
});
