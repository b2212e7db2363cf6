import * as child_process from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import t from 'tap';
import { findSetpriv } from '../../../src/agent/executor/death-signal';
import { DEFAULT_TASK_PORT_RANGE } from '../../../src/agent/executor/host-ports';
import { parseTimestampNs } from '../../../src/agent/executor/log-record';
import { NotFoundError } from '../../../src/errors';
import { eventually } from '../../support/eventually';
import { forever, harness, isGone, script, tmpdir, watched } from './fixtures/harness';
import { makeTask } from './fixtures/task';

const setpriv = findSetpriv();
const printEnv = script('process.stdout.write(JSON.stringify(process.env))');

t.test('env carries the task facts, spec env and the ports reserved on the shared host', async (t) => {
  const h = harness(t);
  process.env.SHOAL_DAEMON_ONLY = 'secret';
  t.teardown(() => delete process.env.SHOAL_DAEMON_ONLY);
  const task = makeTask('env-1', printEnv, {
    address: '127.100.0.5',
    targetPorts: [{ protocol: 'tcp', port: 80 }, { protocol: 'udp', port: 80 }, { protocol: 'tcp', port: 8080 }],
  }, { env: { GREETING: 'hi' } });
  await h.run(task);
  const evs = await h.final('env-1');
  t.same(evs.map((e) => e.state), ['starting', 'running', 'complete']);
  const ports = evs[1].ports!;
  t.equal(ports['udp/80'], ports['tcp/80'], 'tcp and udp of one target share a port');
  t.not(ports['tcp/80'], ports['tcp/8080']);
  for (const p of Object.values(ports)) t.ok(p >= DEFAULT_TASK_PORT_RANGE.first && p <= DEFAULT_TASK_PORT_RANGE.last, `${p} is in the task port range`);
  t.equal(evs[2].message, 'finished');
  t.equal(evs[2].exitCode, 0);
  const env = JSON.parse(await h.logText('env-1')) as Record<string, string>;
  t.match(env, {
    PORT: String(ports['tcp/80']),
    SHOAL_PORT_80: String(ports['tcp/80']),
    SHOAL_PORT_8080: String(ports['tcp/8080']),
    SHOAL_TASK_ADDR: '127.100.0.5',
    SHOAL_TASK_ID: 'env-1',
    SHOAL_TASK_SLOT: '2',
    SHOAL_SERVICE_NAME: 'web',
    SHOAL_SERVICE_ID: 'svc-1',
    SHOAL_NODE_ID: 'node-1',
    SHOAL_DNS: '127.0.1.1:5353',
    GREETING: 'hi',
    PATH: process.env.PATH,
  });
  t.notOk('SHOAL_DAEMON_ONLY' in env, 'daemon settings are not inherited');
  t.same(h.ex.running(), []);
  t.same(fs.readdirSync(path.join(h.stateDir, 'port-locks')), [], 'the reservations are given back when the task ends');
});

t.test('a task in its own namespace keeps its target ports', async (t) => {
  const sandbox = { prepare: async () => ({ wrap: (argv: { file: string; args: string[] }) => argv }), release: async () => undefined };
  const h = harness(t, {}, { sandbox });
  await h.run(makeTask('env-2', printEnv, { targetPorts: [{ protocol: 'tcp', port: 80 }, { protocol: 'udp', port: 80 }, { protocol: 'tcp', port: 8080 }] }));
  const evs = await h.final('env-2');
  t.same(evs[1].ports, { 'tcp/80': 80, 'udp/80': 80, 'tcp/8080': 8080 });
  const env = JSON.parse(await h.logText('env-2')) as Record<string, string>;
  t.equal(env.PORT, '80');
});

const anyAddressServer = script(`
  require('node:http').createServer((q, s) => s.end(process.env.SHOAL_TASK_ID)).listen(Number(process.env.PORT), () => console.log('listening'));
`);

t.test('two tasks with one target port both run when the app binds every address', async (t) => {
  const h = harness(t);
  // Something else on the host already holds the target port on every address, as the demo web tasks hold 80.
  const squatter = net.createServer();
  await new Promise<void>((resolve, reject) => squatter.once('error', reject).listen({ port: 0, host: '::', ipv6Only: false }, resolve));
  t.teardown(() => new Promise((resolve) => squatter.close(resolve)));
  const target = (squatter.address() as net.AddressInfo).port;
  const ids = ['any-1', 'any-2'];
  await Promise.all(ids.map((id, i) => h.run(makeTask(id, anyAddressServer, { address: `127.100.0.${20 + i}`, targetPorts: [{ protocol: 'tcp', port: target }] }))));
  for (const [i, id] of ids.entries()) {
    await h.logLine(id, 'listening');
    const port = h.events.find((e) => e.taskId === id && e.state === 'running')!.ports![`tcp/${target}`];
    t.not(port, target);
    const reply = await new Promise<string>((resolve, reject) => {
      let data = '';
      net.connect(port, `127.100.0.${20 + i}`).on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', reject).write('GET / HTTP/1.0\r\n\r\n');
    });
    t.match(reply, new RegExp(`${id}$`), `${id} answers on its own address`);
  }
  t.same(h.ex.running().sort(), ids);
});

const server = script(`
  const net = require('node:net');
  net.createServer((s) => s.end('hello from ' + process.env.SHOAL_TASK_ID))
    .listen(Number(process.env.PORT), process.env.SHOAL_TASK_ADDR, () => console.log('listening'));
`);

for (const [address, targetPort] of [
  ['127.0.0.1', 80],
  ['127.100.0.5', 8080],
] as const) {
  t.test(`a server task listens on ${address} at its port for target ${targetPort}`, async (t) => {
    const h = harness(t);
    const id = `srv-${targetPort}`;
    await h.run(makeTask(id, server, { address, targetPorts: [{ protocol: 'tcp', port: targetPort }] }));
    const port = h.events.find((e) => e.state === 'running')!.ports![`tcp/${targetPort}`];
    await h.logLine(id, 'listening');
    const reply = await new Promise<string>((resolve, reject) => {
      let data = '';
      net.connect(port, address).on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', reject);
    });
    t.equal(reply, `hello from ${id}`);
    t.same(h.ex.running(), [id]);
    await h.ex.stop(id);
    t.same(h.ex.running(), []);
    t.equal((await h.final(id)).at(-1)!.state, 'shutdown');
  });
}

t.test('exit status becomes complete or failed', async (t) => {
  const h = harness(t);
  const cases = [
    { id: 'exit-0', js: 'process.exit(0)', want: { state: 'complete', message: 'finished', exitCode: 0 } },
    { id: 'exit-3', js: 'process.exit(3)', want: { state: 'failed', message: 'task: non-zero exit (3)', exitCode: 3 } },
    // SIGKILL because tap preloads signal-exit into node children, which catches most others.
    { id: 'exit-kill', js: "process.kill(process.pid, 'SIGKILL')", want: { state: 'failed', message: 'killed by signal SIGKILL', exitCode: 137 } },
  ];
  await Promise.all(cases.map((c) => h.run(makeTask(c.id, script(c.js)))));
  for (const c of cases) {
    const evs = await h.final(c.id);
    t.same(evs.map((e) => e.state), ['starting', 'running', c.want.state], c.id);
    t.match(evs.at(-1), { ...c.want, pid: evs[1].pid }, c.id);
  }
});

t.test('stdout and stderr land in one log, tagged, in order per stream, and outlive the task', async (t) => {
  const h = harness(t);
  await h.run(makeTask('log-1', script("console.log('out1'); console.error('err1'); console.log('out2'); console.error('err2')")));
  await h.final('log-1');
  const records = await h.ex.logs('log-1');
  t.same(records.filter((r) => r.s === 'out').map((r) => r.l), ['out1', 'out2'], 'stdout lines, in order');
  t.same(records.filter((r) => r.s === 'err').map((r) => r.l), ['err1', 'err2'], 'stderr lines, in order');
  for (const r of records) t.match(r.t, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/, `${r.l} has an RFC3339Nano time`);
  t.same([...records].sort((a, b) => a.t.localeCompare(b.t)), records, 'file order is time order');
  t.same((await h.ex.logs('log-1', { tail: 2 })), records.slice(-2), 'tail');
  t.same((await h.ex.logs('log-1', { sinceNs: parseTimestampNs(records[2].t) })), records.slice(2), 'since');
  t.ok(fs.existsSync(path.join(h.stateDir, 'tasks', 'log-1', 'output.log')));
  t.notOk(fs.existsSync(path.join(h.stateDir, 'tasks', 'log-1', 'pid')), 'pid file removed on exit');
  await h.ex.removeTask('log-1');
  await t.rejects(h.ex.logs('log-1'), NotFoundError);
  await t.rejects(h.ex.logs('../etc'), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
});

t.test('stop: a task that handles SIGTERM exits on it', async (t) => {
  const h = harness(t);
  const js = "process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); }); console.log('ready');" + forever;
  await h.run(makeTask('term-1', script(js)));
  await h.logLine('term-1', 'ready');
  // A grace longer than the test timeout: only SIGTERM can end this task in time.
  await h.ex.stop('term-1', 600_000);
  const evs = await h.final('term-1');
  t.match(evs.at(-1), { state: 'shutdown', message: 'shutdown', exitCode: 0 });
  t.match(await h.logText('term-1'), 'got SIGTERM');
  t.ok(isGone(evs[1].pid!));
});

t.test('stop: a task that ignores SIGTERM is killed after the grace, with its whole process group', async (t) => {
  const h = harness(t);
  const js = `
    const { spawn } = require('node:child_process');
    const grandchild = spawn(process.execPath, ['-e', '${forever}'], { stdio: 'ignore' });
    process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
    console.log('grandchild ' + grandchild.pid);
    ${forever}`;
  await h.run(makeTask('kill-1', script(js)));
  await h.logLine('kill-1', 'grandchild ');
  const grandchild = Number(/grandchild (\d+)/.exec(await h.logText('kill-1'))![1]);
  watched.add(grandchild);
  const stops = [h.ex.stop('kill-1', 300), h.ex.stop('kill-1', 300)];
  await Promise.all(stops);
  await h.ex.stop('kill-1');
  const evs = await h.final('kill-1');
  t.same(evs.map((e) => e.state), ['starting', 'running', 'shutdown'], 'one shutdown for several stops');
  t.equal(evs[2].exitCode, 137, 'ended by SIGKILL');
  t.match(await h.logText('kill-1'), 'ignoring SIGTERM');
  t.ok(isGone(evs[1].pid!), 'task gone');
  await eventually(() => isGone(grandchild), 'grandchild gone');
  t.ok(isGone(grandchild), 'grandchild gone');
});

t.test('stop while starting: the process never runs', async (t) => {
  const h = harness(t);
  const starting = h.run(makeTask('early-1', script(forever)));
  const stopping = h.ex.stop('early-1', 300);
  await Promise.all([starting, stopping]);
  t.same((await h.final('early-1')).map((e) => e.state), ['starting', 'shutdown']);
  t.same(h.ex.running(), []);
});

t.test('a command that cannot run fails with a clear message', async (t) => {
  const dir = tmpdir(t);
  fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\necho "from script in $PWD"\n', { mode: 0o755 });
  for (const wrapper of setpriv ? [setpriv, null] : [null]) {
    t.test(`setpriv=${wrapper}`, async (t) => {
      const h = harness(t, { setpriv: wrapper });
      await h.run(makeTask('nx-1', ['shoal-no-such-command-xyz']));
      await h.run(makeTask('nx-2', ['./missing.sh'], {}, { workdir: dir }));
      await h.run(makeTask('nx-3', ['./run.sh'], {}, { workdir: path.join(dir, 'nope') }));
      await h.run(makeTask('ok-1', ['./run.sh'], {}, { workdir: dir }));
      t.match(await h.final('nx-1'), [{ state: 'starting' }, { state: 'failed', message: 'task: exec: "shoal-no-such-command-xyz": executable file not found in $PATH' }]);
      t.match(await h.final('nx-2'), [{ state: 'starting' }, { state: 'failed', message: 'task: exec: "./missing.sh": no such file or directory' }]);
      t.match(await h.final('nx-3'), [{ state: 'starting' }, { state: 'failed', message: `task: workdir "${dir}/nope": no such directory` }]);
      t.match(await h.final('ok-1'), [{ state: 'starting' }, { state: 'running' }, { state: 'complete' }]);
      t.equal(await h.logText('ok-1'), `from script in ${dir}\n`, 'relative command and cwd from workdir');
    });
  }
});

t.test('a spawn error is reported as failed', async (t) => {
  const h = harness(t, {}, {
    spawn: ((_file: string, _args: string[], opts: child_process.SpawnOptions) =>
      child_process.spawn('/nonexistent/shoal-binary', [], opts)) as unknown as typeof child_process.spawn,
  });
  await h.run(makeTask('spawn-err', script('0')));
  t.match(await h.final('spawn-err'), [{ state: 'starting' }, { state: 'failed', message: /^task: spawn failed: .*ENOENT/ }]);
});

t.test('close stops every task and is safe twice', async (t) => {
  const h = harness(t);
  await h.run(makeTask('close-1', script(forever), {}, { stopGracePeriodMs: 300 }));
  await h.run(makeTask('close-2', script("process.on('SIGTERM', () => {}); console.log('ready');" + forever), {}, { stopGracePeriodMs: 300 }));
  await h.logLine('close-2', 'ready');
  t.same(h.ex.running().sort(), ['close-1', 'close-2']);
  await Promise.all([h.ex.close(), h.ex.close()]);
  await h.ex.close();
  t.same(h.ex.running(), []);
  t.match((await h.final('close-1')).at(-1), { state: 'shutdown', exitCode: 143 });
  t.match((await h.final('close-2')).at(-1), { state: 'shutdown', exitCode: 137 });
  await t.rejects(h.run(makeTask('close-3', script('0'))), { code: 'SHOAL_ERR_UNAVAILABLE' });
});

t.test('starting a known task again does not run it twice', async (t) => {
  const h = harness(t);
  const task = makeTask('twice-1', script(forever), {}, { stopGracePeriodMs: 300 });
  await Promise.all([h.run(task), h.run(task)]);
  t.equal(h.events.filter((e) => e.state === 'running').length, 1);
  await h.ex.stop('twice-1');
});
