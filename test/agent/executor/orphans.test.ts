import * as child_process from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { findSetpriv } from '../../../src/agent/executor/death-signal';
import { procStat } from '../../../src/agent/executor/pid-file';
import { ProcessExecutor } from '../../../src/agent/executor/process-executor';
import { eventually } from '../../support/eventually';
import { forever, harness, isGone, logger, node, script, tmpdir, watched, type Tap } from './fixtures/harness';
import { makeTask } from './fixtures/task';

const setpriv = findSetpriv();

t.test('cleanupOrphans kills only the process its pid file names', async (t) => {
  const h = harness(t);
  const orphan = child_process.spawn(node, ['-e', forever], { detached: true, stdio: 'ignore' });
  watched.add(orphan.pid!);
  const exited = new Promise<NodeJS.Signals | null>((resolve) => orphan.once('exit', (_code, signal) => resolve(signal)));
  await new Promise((resolve) => orphan.once('spawn', resolve));
  const startTime = procStat(orphan.pid!)!.startTime;
  const pidFile = path.join(h.stateDir, 'tasks', 'old-1', 'pid');
  fs.mkdirSync(path.dirname(pidFile), { recursive: true });

  // Same pid, other start time: the pid was reused by an unrelated process.
  fs.writeFileSync(pidFile, JSON.stringify({ pid: orphan.pid, startTime: startTime - 1 }));
  t.same(await h.ex.cleanupOrphans(), []);
  t.notOk(isGone(orphan.pid!), 'unrelated process left alone');
  t.notOk(fs.existsSync(pidFile), 'stale pid file removed');

  fs.writeFileSync(pidFile, JSON.stringify({ pid: orphan.pid, startTime }));
  t.same(await h.ex.cleanupOrphans(), ['old-1']);
  t.equal(await exited, 'SIGKILL');
  t.notOk(fs.existsSync(pidFile));
  t.same(await h.ex.cleanupOrphans(), [], 'nothing left the second time');
});

/** Runs an executor in a separate node process, starts one long task there, and returns both pids. */
async function daemonWithTask(t: Tap, stateDir: string, useSetpriv: boolean): Promise<{ daemon: child_process.ChildProcess; taskPid: number }> {
  const modulePath = path.resolve(__dirname, '../../../src/agent/executor/process-executor.js');
  const js = `
    const pino = require('pino');
    const { ProcessExecutor } = require(${JSON.stringify(modulePath)});
    const task = JSON.parse(process.argv[1]);
    const ex = new ProcessExecutor({ logger: pino({ level: 'silent' }) }, { stateDir: ${JSON.stringify(stateDir)}${useSetpriv ? '' : ', setpriv: null'} });
    ex.onEvent((e) => { if (e.state === 'running') console.log('task ' + e.pid); });
    ex.start({ task, nodeId: 'n', dnsAddress: '127.0.0.1:53' });`;
  const task = makeTask('daemon-task', script(forever));
  const daemon = child_process.spawn(node, ['-e', js, JSON.stringify(task)], { stdio: ['ignore', 'pipe', 'inherit'] });
  watched.add(daemon.pid!);
  t.teardown(() => void daemon.kill('SIGKILL'));
  const taskPid = await new Promise<number>((resolve, reject) => {
    let out = '';
    daemon.stdout!.on('data', (d) => {
      out += d;
      const m = /task (\d+)\n/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    daemon.once('exit', () => reject(new Error('daemon exited before its task ran')));
  });
  watched.add(taskPid);
  // setpriv sets the parent-death signal only once it runs, so wait until it has exec'd the task.
  await eventually(() => fs.readFileSync(`/proc/${taskPid}/cmdline`, 'utf8').startsWith(`${node}\0`), 'setpriv to exec the task');
  return { daemon, taskPid };
}

t.test('a task dies with its daemon (parent-death signal)', { skip: setpriv ? false : 'no setpriv with --pdeathsig' }, async (t) => {
  const stateDir = tmpdir(t);
  const { daemon, taskPid } = await daemonWithTask(t, stateDir, true);
  t.notOk(isGone(taskPid), 'task runs');
  daemon.kill('SIGKILL');
  await eventually(() => isGone(taskPid), 'task gone after its daemon died');
  t.ok(isGone(taskPid));
  // The restarted daemon finds the pid file but nothing to kill.
  const ex = new ProcessExecutor({ logger }, { stateDir });
  t.same(await ex.cleanupOrphans(), []);
  t.notOk(fs.existsSync(path.join(stateDir, 'tasks', 'daemon-task', 'pid')));
});

t.test('without setpriv a restarted daemon kills what its crashed run left', async (t) => {
  const stateDir = tmpdir(t);
  const { daemon, taskPid } = await daemonWithTask(t, stateDir, false);
  const daemonGone = new Promise((resolve) => daemon.once('exit', resolve));
  daemon.kill('SIGKILL');
  await daemonGone;
  t.notOk(isGone(taskPid), 'task outlived its daemon');
  const ex = new ProcessExecutor({ logger }, { stateDir, setpriv: null });
  t.same(await ex.cleanupOrphans(), ['daemon-task']);
  await eventually(() => isGone(taskPid), 'orphan gone');
  t.ok(isGone(taskPid));
});

