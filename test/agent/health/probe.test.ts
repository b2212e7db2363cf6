import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { cmdProbe } from '../../../src/agent/health/cmd-probe';
import { runProbe, type ProbeTarget } from '../../../src/agent/health/probe';
import type { HealthCheck } from '../../../src/model/types';
import { eventually } from '../../support/eventually';

/** Generous: only reached when a probe is broken. */
const TIMEOUT_MS = 5_000;
const LOOPBACK = '127.0.0.1';

const check = (over: Partial<HealthCheck>): HealthCheck => ({
  kind: 'tcp',
  intervalMs: 1_000,
  timeoutMs: TIMEOUT_MS,
  retries: 3,
  startPeriodMs: 0,
  ...over,
});

const target = (port: number | undefined, env: Record<string, string> = { PATH: process.env.PATH ?? '' }, cwd = process.cwd()): ProbeTarget => ({
  address: LOOPBACK,
  port,
  env,
  cwd,
});

function listen(server: net.Server, t: Tap): Promise<number> {
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if (server instanceof http.Server) server.closeAllConnections();
      }),
  );
  return new Promise((resolve) => server.listen(0, LOOPBACK, () => resolve((server.address() as net.AddressInfo).port)));
}

type Tap = tap.Test;

/** A port nothing listens on: bound and closed at once. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  const port = await new Promise<number>((resolve) => s.listen(0, LOOPBACK, () => resolve((s.address() as net.AddressInfo).port)));
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

t.test('http: 2xx and 3xx are healthy, 4xx and 5xx are not, and the path is sent', async (t) => {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    const code = Number((req.url ?? '').split('/')[1]);
    res.writeHead(code, code === 302 ? { location: '/elsewhere' } : {});
    res.end('body');
  });
  const port = await listen(server, t);
  for (const [code, ok] of [[200, true], [204, true], [302, true], [404, false], [500, false], [503, false]] as const) {
    const r = await runProbe(check({ kind: 'http', path: `/${code}/health` }), target(port));
    t.equal(r.ok, ok, `HTTP ${code}`);
    t.equal(r.output, `HTTP ${code}`);
  }
  t.same(seen, ['/200/health', '/204/health', '/302/health', '/404/health', '/500/health', '/503/health'], 'redirects are not followed');
});

t.test('http: a server that never answers fails at the timeout; a closed port fails', async (t) => {
  const hung: http.ServerResponse[] = [];
  const server = http.createServer((_req, res) => void hung.push(res));
  const port = await listen(server, t);
  const r = await runProbe(check({ kind: 'http', path: '/', timeoutMs: 100 }), target(port));
  t.equal(r.ok, false);
  t.match(r.output, /timed out after 100 ms/);
  t.equal(hung.length, 1, 'the request did reach the server');
  const closed = await runProbe(check({ kind: 'http', path: '/' }), target(await closedPort()));
  t.equal(closed.ok, false);
  t.match(closed.output, /ECONNREFUSED/);
});

t.test('tcp: an open port is healthy, a closed one is not', async (t) => {
  const server = net.createServer((s) => s.destroy());
  const port = await listen(server, t);
  const open = await runProbe(check({ kind: 'tcp' }), target(port));
  t.equal(open.ok, true);
  const closed = await runProbe(check({ kind: 'tcp' }), target(await closedPort()));
  t.equal(closed.ok, false);
  t.match(closed.output, /ECONNREFUSED/);
});

t.test('http and tcp without a target port fail with a reason', async (t) => {
  for (const kind of ['http', 'tcp'] as const) {
    const r = await runProbe(check({ kind }), target(undefined));
    t.equal(r.ok, false);
    t.match(r.output, /no target port/);
  }
});

t.test('cmd: exit 0 is healthy, exit 1 is not; argv and sh -c forms', async (t) => {
  const ok = await runProbe(check({ kind: 'cmd', command: [process.execPath, '-e', 'process.exit(0)'] }), target(undefined));
  t.equal(ok.ok, true);
  const bad = await runProbe(check({ kind: 'cmd', command: [process.execPath, '-e', 'console.log("sick"); process.exit(1)'] }), target(undefined));
  t.equal(bad.ok, false);
  t.equal(bad.output, 'sick\n', 'output is kept for the logs');
  const shell = await runProbe(check({ kind: 'cmd', command: ['exit 3'] }), target(undefined));
  t.equal(shell.ok, false);
  t.equal(shell.output, 'exit status 3');
  const shellOk = await runProbe(check({ kind: 'cmd', command: ['test "$GREETING" = hi'] }), target(undefined, { GREETING: 'hi', PATH: process.env.PATH ?? '' }));
  t.equal(shellOk.ok, true, 'the task environment reaches the command');
});

t.test('cmd: runs in the task environment and working directory, not the daemon one', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-probe-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  process.env.SHOAL_PROBE_DAEMON_ONLY = 'x';
  t.teardown(() => delete process.env.SHOAL_PROBE_DAEMON_ONLY);
  const r = await cmdProbe(
    [process.execPath, '-e', 'console.log(JSON.stringify({ cwd: process.cwd(), port: process.env.PORT, daemon: process.env.SHOAL_PROBE_DAEMON_ONLY ?? null }))'],
    { PORT: '31001' },
    dir,
    TIMEOUT_MS,
  );
  t.equal(r.ok, true);
  t.same(JSON.parse(r.output), { cwd: fs.realpathSync(dir), port: '31001', daemon: null });
});

t.test('cmd: a command past its timeout fails and is killed with its children', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-probe-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pidFile = path.join(dir, 'child.pid');
  // The shell starts a long sleep in the background, records its pid, and waits.
  const r = await cmdProbe([`sleep 30 & echo $! > ${pidFile}; wait`], { PATH: process.env.PATH ?? '' }, dir, 500);
  t.equal(r.ok, false);
  t.match(r.output, /timed out after 500 ms/);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  t.ok(pid > 0);
  await eventually(() => !isAlive(pid), 'the probe process group to be gone', TIMEOUT_MS).catch(() => undefined);
  t.notOk(isAlive(pid), 'the probe process group is gone');
});

t.test('cmd: a missing command or an empty one fails with a reason', async (t) => {
  const missing = await runProbe(check({ kind: 'cmd', command: ['/nonexistent/probe', 'x'] }), target(undefined));
  t.equal(missing.ok, false);
  t.match(missing.output, /ENOENT/);
  const empty = await runProbe(check({ kind: 'cmd', command: [] }), target(undefined));
  t.equal(empty.ok, false);
  t.match(empty.output, /no command/);
});

function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
