import t from 'tap';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { eventually } from '../support/eventually';
import { CLI, DNS_PORT, collectHttpTasks, collectUdpTasks, dig, runCli, tempDir, clusterWait } from './cluster-fixture';

const BASE = '127.0.13.1';
const ADDRS = ['127.0.13.1', '127.0.13.2', '127.0.13.3'];

interface UpRun {
  output: () => string;
  exited: Promise<number | null>;
  kill: (sig: NodeJS.Signals) => void;
}

function startUp(stateDir: string): UpRun {
  const child = spawn(process.execPath, [CLI, 'up', '--nodes', '3', '--addr', BASE, '--state-dir', stateDir, '--dns-port', String(DNS_PORT)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { output: () => out, exited, kill: (sig) => child.kill(sig) };
}

/**
 * Teardown for a run however the test ended: Ctrl-C, then SIGKILL for
 * shoal up and every daemon its screen named if they are still there (a
 * SIGKILLed `shoal up` cannot stop its daemons itself).
 */
async function stopRun(run: UpRun): Promise<void> {
  run.kill('SIGINT');
  await Promise.race([run.exited, new Promise((r) => setTimeout(r, 15_000).unref())]);
  run.kill('SIGKILL');
  for (const m of run.output().matchAll(/pid (\d+)/g)) {
    try {
      process.kill(Number(m[1]), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('shoal up: three daemons, the demo stack, Ctrl-C stops everything, a second run resumes', async (t) => {
  const dir = tempDir(t, 'up');
  const stateDir = path.join(dir, 'state');
  const host = `unix://${path.join(stateDir, 'shoal.sock')}`;
  const sh = (...args: string[]) => runCli(['-H', host, ...args]);

  const first = startUp(stateDir);
  t.teardown(() => stopRun(first));
  await eventually(() => /cluster is up/.test(first.output()), 'the welcome screen', clusterWait(60_000));
  const screen = first.output();
  for (const a of ADDRS) t.match(screen, `http://${a}:9323/metrics`, `the screen names ${a}'s metrics URL`);
  t.match(screen, /web\s+tcp 8080/, 'the screen names the web port');
  t.match(screen, /echo\s+udp 5301/, 'the screen names the echo port');
  t.match(screen, /shoal service ls/, 'the screen says how to list services');
  const pids = [...screen.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
  t.equal(pids.length, 3, 'three daemon processes');

  const nodes = JSON.parse((await sh('node', 'ls', '--format', 'json')).stdout) as { address: string; status: { state: string } }[];
  t.same(nodes.map((n) => n.address).sort(), ADDRS, 'nodes on 127.0.13.1-3');

  const webTasks = await eventually(async () => {
    const rows = JSON.parse((await sh('service', 'ps', 'web', '--format', 'json')).stdout) as { ID: string; CurrentState: string; DesiredState: string }[];
    const running = rows.filter((r) => r.CurrentState === 'Running' && r.DesiredState === 'Running');
    return running.length === 3 ? running : undefined;
  }, '3 web tasks running', clusterWait());
  const ids = new Set(webTasks.map((r) => r.ID));
  for (const a of ADDRS) t.same([...(await collectHttpTasks(a, 8080, ids))].sort(), [...ids].sort(), `demo web answers on ${a}:8080 from every task`);
  const echoTasks = await eventually(async () => {
    const rows = JSON.parse((await sh('service', 'ps', 'echo', '--format', 'json')).stdout) as { ID: string; CurrentState: string; DesiredState: string }[];
    const running = rows.filter((r) => r.CurrentState === 'Running' && r.DesiredState === 'Running');
    return running.length === 2 ? running : undefined;
  }, '2 echo tasks running', clusterWait());
  const echoIds = new Set(echoTasks.map((r) => r.ID));
  t.same([...(await collectUdpTasks(ADDRS[2], 5301, echoIds))].sort(), [...echoIds].sort(), 'demo echo answers on UDP 5301');
  t.equal((await dig(ADDRS[1], 'tasks.web')).length, 3, 'DNS on node 2 lists the 3 web tasks');

  first.kill('SIGINT');
  t.equal(await first.exited, 0, 'Ctrl-C: shoal up exits 0');
  t.same(pids.filter(alive), [], 'every daemon stopped');
  for (const a of ADDRS) {
    await t.rejects(collectHttpTasks(a, 8080, ids, 1), `nothing answers on ${a}:8080 after Ctrl-C`);
  }

  const second = startUp(stateDir);
  t.teardown(() => stopRun(second));
  await eventually(() => /cluster is up/.test(second.output()), 'the second welcome screen', clusterWait(60_000));
  const services = JSON.parse((await sh('service', 'ls', '--format', 'json')).stdout) as { Name: string }[];
  t.same(services.map((s) => s.Name).sort(), ['echo', 'web'], 'the saved services came back, none duplicated');
  const again = await eventually(async () => {
    const rows = JSON.parse((await sh('service', 'ps', 'web', '--format', 'json')).stdout) as { ID: string; CurrentState: string; DesiredState: string; Slot: number }[];
    const running = rows.filter((r) => r.CurrentState === 'Running' && r.DesiredState === 'Running');
    return running.length === 3 ? running : undefined;
  }, '3 web tasks running again', clusterWait(30_000));
  t.same(again.map((r) => r.Slot).sort(), [1, 2, 3], 'one task per slot');
  const secondPids = [...second.output().matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
  second.kill('SIGINT');
  t.equal(await second.exited, 0, 'second Ctrl-C exits 0');
  t.same(secondPids.filter(alive), [], 'every daemon stopped again');
});
