/**
 * Multi-process fixtures: real `shoal` daemons and CLI runs, real sockets.
 * Each test file picks its own address block (127.0.<block>.k) so a leftover
 * from one file cannot answer for another; everything started here is
 * stopped by the cleanup registered on the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, openSync, closeSync } from 'node:fs';
import dgram from 'node:dgram';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { loadNodeCredentials, mtlsDispatcher } from '../../src/pki';
import { eventually, type EventuallyOptions } from '../support/eventually';
import { digestLogs } from '../support/log-digest';

/** The built CLI. */
export const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
/** The demo apps' folder. */
export const DEMO_DIR = path.join(__dirname, '..', '..', '..', 'deploy');
/** DNS port the tests give every node. */
export const DNS_PORT = 5399;
/** A resolver on loopback that nothing answers: the tests never forward names off this machine. */
export const SILENT_UPSTREAM = '127.0.0.1:9';

/** Minimal view of tap's Test used here. */
export interface TestLike {
  teardown(fn: () => unknown): void;
  comment(...args: unknown[]): void;
  /** Whether no assertion failed so far (tap's Test has it). */
  passing?(): boolean;
}

/** Result of one CLI run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `shoal` with args; never throws. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** How cluster tests poll: a CLI process or HTTP request per poll, so every 100 ms; errors (a daemon still starting) are retried. */
export function clusterWait(timeoutMs = 20_000): EventuallyOptions {
  return { timeoutMs, pollMs: 100, retryErrors: true };
}

/** GET http://host:port/ and parse the demo web app's JSON answer. */
export function httpGet(host: string, port: number, pathName = '/', timeoutMs = 3_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: pathName, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Send one datagram from a fresh socket (a new flow) and wait for the reply. */
export function udpRoundTrip(host: string, port: number, payload: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('udp timeout'));
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m.toString());
    });
    s.send(payload, port, host);
  });
}

/** Run dig and return the +short answer lines. */
export function dig(server: string, name: string, extra: string[] = []): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('dig', [`@${server}`, '-p', String(DNS_PORT), name, '+short', '+time=2', '+tries=1', ...extra]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out.split('\n').filter(Boolean)) : reject(new Error(`dig exited ${code}`))));
  });
}

/**
 * A temporary directory removed at teardown. If the test failed, the
 * daemons' warnings and notable lines are printed first (CI keeps only the
 * output); SHOAL_TEST_KEEP=1 keeps the directory itself.
 */
export function tempDir(t: TestLike, name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `shoal-${name}-`));
  t.teardown(() => {
    if (t.passing && !t.passing()) for (const line of digestLogs(dir)) t.comment(line);
    if (process.env.SHOAL_TEST_KEEP === '1') t.comment(`kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** One daemon process started by a test. */
export interface DaemonProc {
  index: number;
  address: string;
  stateDir: string;
  socket: string;
  args: string[];
  child: ChildProcess;
  exited: Promise<void>;
}

/** A cluster of daemons started directly with `shoal daemon`. */
export class TestCluster {
  daemons: DaemonProc[] = [];
  readonly host: string;

  constructor(
    private readonly t: TestLike,
    readonly dir: string,
    readonly block: number,
    /** DNS port of every node; a file that may run beside others picks its own. */
    readonly dnsPort = DNS_PORT,
  ) {
    this.host = `unix://${path.join(dir, 'node-1', 'shoal.sock')}`;
    t.teardown(() => this.stopAll());
  }

  address(k: number): string {
    return `127.0.${this.block}.${k}`;
  }

  /** Start node k (1 = manager with --init; others join through node 1); `extra` flags go on the daemon's line. */
  start(k: number, token?: string, extra: string[] = []): DaemonProc {
    const stateDir = path.join(this.dir, `node-${k}`);
    mkdirSync(stateDir, { recursive: true });
    const args = [
      CLI, 'daemon',
      '--addr', this.address(k),
      '--state-dir', stateDir,
      '--hostname', `node-${k}`,
      '--network-mode', 'loopback',
      '--dns-port', String(this.dnsPort),
      '--dns-upstream', SILENT_UPSTREAM,
      '--log-level', 'info',
      ...(k === 1 ? ['--init'] : ['--join', `${this.address(1)}:2377`, '--token', token ?? '']),
      ...extra,
    ];
    return this.spawn(k, args, stateDir);
  }

  /** Start a daemon again with the arguments it had. */
  restart(k: number): DaemonProc {
    const old = this.daemons.find((d) => d.index === k)!;
    this.daemons = this.daemons.filter((d) => d !== old);
    return this.spawn(k, old.args, old.stateDir);
  }

  private spawn(k: number, args: string[], stateDir: string): DaemonProc {
    const log = openSync(path.join(stateDir, 'daemon.log'), 'a');
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const d: DaemonProc = { index: k, address: this.address(k), stateDir, socket: path.join(stateDir, 'shoal.sock'), args, child, exited };
    this.daemons.push(d);
    return d;
  }

  /** Run the CLI against the manager. */
  cli(...args: string[]): Promise<CliResult> {
    return runCli(['-H', this.host, ...args]);
  }

  /** Run the CLI against node k's own socket (a manager other than node 1). */
  cliAt(k: number, ...args: string[]): Promise<CliResult> {
    return runCli(['-H', `unix://${path.join(this.dir, `node-${k}`, 'shoal.sock')}`, ...args]);
  }

  /** Run the CLI and parse `--format json` output; throws with stderr on failure. */
  async json<T>(...args: string[]): Promise<T> {
    const r = await this.cli(...args, '--format', 'json');
    if (r.code !== 0) throw new Error(`shoal ${args.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /**
   * Call node k's manager API address (node 1's by default) as node k does:
   * https with node k's own certificate from its state dir.
   */
  async asNode(k: number, method: 'GET' | 'POST', pathName: string, body?: unknown, managerK = 1): Promise<{ status: number; text: string }> {
    const creds = await loadNodeCredentials(path.join(this.dir, `node-${k}`, 'certificates'));
    if (!creds) throw new Error(`node-${k} has no certificate`);
    const dispatcher = mtlsDispatcher(creds);
    try {
      const res = await request(`https://${this.address(managerK)}:2377${pathName}`, {
        method,
        dispatcher,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.statusCode, text: await res.body.text() };
    } finally {
      await dispatcher.close();
    }
  }

  /** Start n nodes and wait until all are ready. */
  async up(n: number): Promise<void> {
    this.start(1);
    await eventually(async () => (await runCli(['-H', this.host, 'swarm', 'join-token', '-q', 'worker'])).code === 0, 'manager socket', clusterWait());
    const token = (await runCli(['-H', this.host, 'swarm', 'join-token', '-q', 'worker'])).stdout.trim();
    for (let k = 2; k <= n; k++) this.start(k, token);
    await eventually(async () => {
      const nodes = await this.json<{ status: { state: string } }[]>('node', 'ls');
      return nodes.filter((x) => x.status.state === 'ready').length === n;
    }, `${n} ready nodes`, clusterWait());
  }

  /** Kill node k with a signal and wait for it to exit. */
  async kill(k: number, signal: NodeJS.Signals): Promise<void> {
    const d = this.daemons.find((x) => x.index === k)!;
    d.child.kill(signal);
    await d.exited;
  }

  /** Stop every daemon (SIGTERM, then SIGKILL after a grace). */
  async stopAll(): Promise<void> {
    await Promise.all(
      this.daemons.map(async (d) => {
        if (d.child.exitCode !== null || d.child.signalCode !== null) return;
        d.child.kill('SIGTERM');
        const timer = setTimeout(() => d.child.kill('SIGKILL'), 15_000);
        await d.exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** Node rows as `node ls --format json` prints them, with MANAGER STATUS. */
export interface NodeRow {
  hostname: string;
  role: string;
  status: { state: string };
  managerStatus?: { leader: boolean; reachability: string };
}

/** `node ls` through node k's own socket; undefined when that node does not answer it (down, or not a manager). */
export async function nodesAt(c: TestCluster, k: number): Promise<NodeRow[] | undefined> {
  const r = await c.cliAt(k, 'node', 'ls', '--format', 'json');
  return r.code === 0 ? (JSON.parse(r.stdout) as NodeRow[]) : undefined;
}

/** Task rows as `service ps --format json` prints them. */
export interface PsRow {
  ID: string;
  Name: string;
  Node: string;
  NodeID: string;
  DesiredState: string;
  CurrentState: string;
  Address: string;
  /** `tcp/80` -> the port the task listens on. */
  Ports: Record<string, number>;
  Slot: number;
}

/** Running tasks of a service (current state and desired state running). */
export async function runningTasks(c: TestCluster, service: string): Promise<PsRow[]> {
  const rows = await c.json<PsRow[]>('service', 'ps', service);
  return rows.filter((r) => r.DesiredState === 'Running' && r.CurrentState === 'Running');
}

/** Hit a TCP port until every expected task id has answered; returns the ids seen. */
export async function collectHttpTasks(host: string, port: number, expected: Set<string>, attempts = 60): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < attempts && [...expected].some((id) => !seen.has(id)); i++) {
    const r = await httpGet(host, port);
    seen.add(JSON.parse(r.body).task);
  }
  return seen;
}

/** Send datagrams until every expected task id has answered; returns the ids seen. */
export async function collectUdpTasks(host: string, port: number, expected: Set<string>, attempts = 60): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < attempts && [...expected].some((id) => !seen.has(id)); i++) {
    const reply = await udpRoundTrip(host, port, `ping ${i}`);
    seen.add(reply.split(' ')[0]);
  }
  return seen;
}
