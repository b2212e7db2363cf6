import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../src/errors';
import { nativeLoadResult } from '../src/native/native';
import { formatSummary, printSummary, printTable, type Row } from './report';

/** Loopback address every benchmark process listens on. */
export const BENCH_HOST = '127.0.0.1';
/** How long a started process gets to print its ready line or open its port. */
const READY_TIMEOUT_MS = 10_000;
/** Pause between two probes of a port that is not open yet. */
const PORT_PROBE_INTERVAL_MS = 50;
/** Grace a process gets after SIGTERM (time to write a CPU profile) before SIGKILL. */
const STOP_GRACE_MS = 3_000;

/** A tool a benchmark runs, and the Debian package that provides it. */
export interface Tool {
  command: string;
  debianPackage: string;
}

/** Exits with the apt-get line to run when any tool is missing; installs nothing itself. */
export function requireTools(tools: Tool[]): void {
  const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t.command}`]).status !== 0);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((t) => t.debianPackage))].join(' ');
  process.stderr.write(
    `missing: ${missing.map((t) => t.command).join(', ')}\ninstall with: apt-get install -y ${packages}\n`,
  );
  process.exit(2);
}

/** A free TCP port (and UDP too when `udp`) on the bench host, found by binding port 0. */
export async function freePort(udp = false): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen({ host: BENCH_HOST, port: 0, exclusive: true }, () => {
        const p = (server.address() as net.AddressInfo).port;
        server.close(() => resolve(p));
      });
    });
    if (!udp) return port;
    const ok = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind({ address: BENCH_HOST, port, exclusive: true }, () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

/** A temp dir and the processes of one benchmark run, all removed by `cleanup()`, also on Ctrl-C. */
export class BenchRun {
  readonly dir: string;
  private readonly children = new Set<ChildProcess>();
  private cleaned = false;

  constructor(name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `shoal-bench-${name}-`));
    const onSignal = (): void => {
      void this.cleanup().then(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('exit', () => this.killNow());
  }

  /** Starts a long-running process, `env` added to ours; its stderr is kept for the error message if it dies early. */
  start(command: string, args: string[], label: string, env?: NodeJS.ProcessEnv): ChildProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
    let errText = '';
    child.stderr?.on('data', (d: Buffer) => {
      errText = (errText + d.toString()).slice(-4000);
    });
    child.stdout?.resume();
    child.once('exit', (code, signal) => {
      this.children.delete(child);
      if (!this.cleaned && !stopping.has(child)) {
        process.stderr.write(`${label} exited early (code ${code}, signal ${signal}): ${errText}\n`);
      }
    });
    this.children.add(child);
    return child;
  }

  /** Stops one process: SIGTERM, then SIGKILL after a grace period. */
  async stop(child: ChildProcess): Promise<void> {
    stopping.add(child);
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  /** Stops every process still running and removes the temp dir. Safe twice. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const t of runningTools) t.kill('SIGKILL');
    await Promise.all([...this.children].map((c) => this.stop(c)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private killNow(): void {
    for (const c of [...this.children, ...runningTools]) c.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const stopping = new WeakSet<ChildProcess>();
/** Load generators still running, killed by cleanup on Ctrl-C or failure. */
const runningTools = new Set<ChildProcess>();

/** Resolves once a TCP connect to host:port succeeds. */
export async function waitForTcp(port: number, host = BENCH_HOST): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port}`);
    await sleep(PORT_PROBE_INTERVAL_MS);
  }
}

/** Resolves once the child prints a line containing `marker` on stdout. */
export function waitForLine(child: ChildProcess, marker: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no "${marker}" within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    child.stdout?.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes(marker)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => reject(new Error(`exited before printing "${marker}"`)));
  });
}

/** Runs a load generator to completion and returns its stdout (stderr appended). */
export function runTool(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    runningTools.add(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      runningTools.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} exited with ${code}: ${out.slice(-2000)}`));
    });
  });
}

/** Milliseconds of wall time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Extras of one shoal process: environment added to ours, and the profile's file name (default: node's own). */
export interface ShoalStartOptions {
  env?: NodeJS.ProcessEnv;
  profileName?: string;
}

/** Starts `dist/bench/<script>.js` in its own node process, with `--cpu-prof` into `profileDir` when given. */
export function startShoal(
  run: BenchRun,
  script: string,
  args: string[],
  profileDir?: string,
  options: ShoalStartOptions = {},
): ChildProcess {
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  if (profileDir && options.profileName) nodeArgs.push(`--cpu-prof-name=${options.profileName}`);
  return run.start(process.execPath, [...nodeArgs, join(__dirname, `${script}.js`), ...args], `shoal ${script}`, options.env);
}

/** Common command-line flags of the benchmarks. */
export interface BenchFlags {
  /** Seconds each load run lasts. */
  seconds: number;
  /** Directory for the shoal process's CPU profile, or undefined. */
  profileDir?: string;
  /** Proxy thread counts to compare at, ascending: [1], [2] or [1, 2]. */
  threads: number[];
}

/** What `--threads` accepts: the issue compares at 1 thread and at 2. */
const THREAD_CHOICES = new Map<string, number[]>([
  ['1', [1]],
  ['2', [2]],
  ['both', [1, 2]],
]);

/** Reads `--seconds N`, `--profile DIR` and `--threads 1|2|both` (default both) from argv. */
export function parseFlags(argv: string[], defaultSeconds: number): BenchFlags {
  const flags: BenchFlags = { seconds: defaultSeconds, threads: [1, 2] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') flags.seconds = Number(argv[++i]);
    else if (argv[i] === '--profile') flags.profileDir = argv[++i];
    else if (argv[i] === '--threads') {
      const value = argv[++i];
      const threads = value === undefined ? undefined : THREAD_CHOICES.get(value);
      if (!threads) {
        throw new InvalidArgumentError(`--threads takes 1, 2 or both, not ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
      }
      flags.threads = threads;
    }
  }
  return flags;
}

/**
 * Threads shoal's UDP relay runs on whatever `threads` says: per the doc of
 * UserspaceDataplaneOptions.threads, UDP stays on the main thread.
 */
const SHOAL_UDP_THREADS = 1;

/** One anchor-vs-shoal benchmark through a proxy, measured at each thread count of `--threads`. */
export interface ProxyComparison<R> {
  /** Benchmark name, the first word of each summary line. */
  name: string;
  /** The anchor in tables and summaries: `haproxy`, `nginx`. */
  anchorName: string;
  /** The anchor's thread setting, for titles: T => `haproxy nbthread T`. */
  anchorThreads(threads: number): string;
  /** What the load is, for titles: `wrk -c64 -t2 -d10s`. */
  load: string;
  protocol: 'tcp' | 'udp';
  /** HOST:PORT of each backend, for shoal-proxy. */
  backends: string[];
  /** Starts the anchor with `threads` threads on BENCH_HOST:port and resolves once it serves. */
  startAnchor(threads: number, port: number): Promise<ChildProcess>;
  /** Runs the load generator through BENCH_HOST:port. */
  measure(port: number): Promise<R>;
  /** The table rows of one anchor/shoal pair. */
  rows(anchor: R, shoal: R): Row[];
  /** The figure the summary line compares (requests/s, bits/s, queries/s). */
  headline(result: R): number;
  /** Appended to the SHOAL_NATIVE=0 summary line after `; `. */
  fallbackNote?(native: R, js: R): string;
}

/**
 * For each thread count T of `flags.threads`: the anchor with T threads, then
 * shoal-proxy `--threads T`, one at a time so neither steals CPU from the
 * other's run; a table and a summary line per T. At T=1 shoal also runs with
 * SHOAL_NATIVE=0 (Node's sockets) against the same anchor run.
 */
export async function compareProxies<R>(run: BenchRun, flags: BenchFlags, c: ProxyComparison<R>): Promise<void> {
  const udp = c.protocol === 'udp';
  const addon = nativeLoadResult().status;
  const shoal = async (threads: number, profileName: string, env?: NodeJS.ProcessEnv): Promise<R> => {
    const port = await freePort(udp);
    const args = [c.protocol, `${BENCH_HOST}:${port}`, ...c.backends, '--threads', String(threads)];
    const child = startShoal(run, 'shoal-proxy', args, flags.profileDir, { env, profileName: `${c.name}-${profileName}.cpuprofile` });
    await waitForLine(child, 'ready');
    const result = await c.measure(port);
    await run.stop(child);
    return result;
  };
  for (const threads of flags.threads) {
    const anchorPort = await freePort(udp);
    const anchorChild = await c.startAnchor(threads, anchorPort);
    const anchor = await c.measure(anchorPort);
    await run.stop(anchorChild);
    const sh = await shoal(threads, `${threads}thread`);
    const shoalThreads = udp ? SHOAL_UDP_THREADS : addon === 'loaded' ? threads : 1;
    const why = udp ? 'the UDP relay runs on the main thread' : 'without the addon the main thread relays';
    const threadNote =
      shoalThreads === threads
        ? `${threads} proxy thread${threads === 1 ? '' : 's'} each`
        : `${c.anchorThreads(threads)}, shoal: ${shoalThreads} ${c.protocol.toUpperCase()} thread (${why})`;
    printTable(`${c.name}: ${c.load}, ${threadNote} [shoal addon: ${addon}]`, c.anchorName, c.rows(anchor, sh));
    printSummary(c.name, c.anchorName, c.headline(anchor), c.headline(sh), threads === 1 ? undefined : `${threads} threads`);
    if (threads !== 1) continue;

    const js = await shoal(1, 'native0', { SHOAL_NATIVE: '0' });
    printTable(`${c.name}: the same at 1 thread, shoal with SHOAL_NATIVE=0 (Node ${udp ? 'dgram' : 'net'})`, c.anchorName, c.rows(anchor, js));
    const note = c.fallbackNote ? `; ${c.fallbackNote(sh, js)}` : '';
    process.stdout.write(`${formatSummary(c.name, c.anchorName, c.headline(anchor), c.headline(js), 'SHOAL_NATIVE=0')}${note}\n`);
  }
}

/** Nginx config lines every instance needs to run unprivileged-style from a temp prefix. */
export function nginxPreamble(dir: string): string {
  return [
    'daemon off;',
    'master_process on;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/nginx-error.log warn;`,
  ].join('\n');
}

/** Starts nginx with the config text; `-p` keeps every runtime file in `dir`. */
export function startNginx(run: BenchRun, name: string, conf: string): ChildProcess {
  const prefix = join(run.dir, name);
  mkdirSync(prefix, { recursive: true });
  const file = join(prefix, 'nginx.conf');
  writeFileSync(file, conf);
  return run.start('nginx', ['-p', prefix, '-c', file, '-e', join(prefix, 'error.log')], `nginx ${name}`);
}
