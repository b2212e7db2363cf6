import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_HOST, type BenchRun, runTool } from './harness';
import type { ChildProcess } from 'node:child_process';

/** Queries dnsperf keeps in flight (its default, written out so both sides get the same). */
const DNSPERF_OUTSTANDING = 100;
/** Seconds before dnsperf counts a query as lost. */
const DNSPERF_TIMEOUT_S = 2;
/** Length of the verbose run whose per-query latencies give the p99. */
const LATENCY_RUN_SECONDS = 3;

/** Name of the i-th synthetic service. */
export function serviceName(i: number): string {
  return `svc-${i}`;
}

/** The VIP the i-th service resolves to, the same for shoal and dnsmasq. */
export function serviceVip(i: number): string {
  return `10.200.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

/** Writes an addn-hosts file and a dnsperf query file for `count` services; returns their paths. */
export function writeNames(dir: string, count: number): { hosts: string; queries: string } {
  const hosts = join(dir, 'hosts');
  const queries = join(dir, 'queries');
  const h: string[] = [];
  const q: string[] = [];
  for (let i = 0; i < count; i++) {
    h.push(`${serviceVip(i)} ${serviceName(i)}`);
    q.push(`${serviceName(i)} A`);
  }
  writeFileSync(hosts, h.join('\n') + '\n');
  writeFileSync(queries, q.join('\n') + '\n');
  return { hosts, queries };
}

/** Starts dnsmasq in the foreground answering only from `hostsFile`, on BENCH_HOST:port. */
export function startDnsmasq(run: BenchRun, port: number, hostsFile: string): ChildProcess {
  return run.start(
    'dnsmasq',
    [
      '-k',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      `--addn-hosts=${hostsFile}`,
      `--listen-address=${BENCH_HOST}`,
      '--bind-interfaces',
      `--port=${port}`,
      `--pid-file=${join(run.dir, `dnsmasq-${port}.pid`)}`,
      '--user=root',
      '--cache-size=10000',
      `--log-facility=${join(run.dir, `dnsmasq-${port}.log`)}`,
    ],
    'dnsmasq',
  );
}

/** What dnsperf measured against one server. */
export interface DnsperfResult {
  queriesPerSecond: number;
  sent: number;
  lost: number;
  /** From a separate verbose run; NaN when not asked for. */
  p99Ms: number;
}

/** Runs dnsperf at full speed for `seconds`, then (when `withLatency`) a short verbose run for the p99. */
export async function dnsperf(port: number, queries: string, seconds: number, withLatency: boolean): Promise<DnsperfResult> {
  const base = ['-s', BENCH_HOST, '-p', String(port), '-d', queries, '-q', String(DNSPERF_OUTSTANDING), '-t', String(DNSPERF_TIMEOUT_S)];
  const out = await runTool('dnsperf', [...base, '-l', String(seconds)]);
  const num = (re: RegExp): number => {
    const m = re.exec(out);
    if (!m) throw new Error(`cannot parse dnsperf output:\n${out}`);
    return Number(m[1]);
  };
  const result: DnsperfResult = {
    queriesPerSecond: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    p99Ms: NaN,
  };
  if (withLatency) {
    const verbose = await runTool('dnsperf', [...base, '-l', String(LATENCY_RUN_SECONDS), '-v']);
    const latencies: number[] = [];
    for (const m of verbose.matchAll(/^> \S+ \S+ \S+ ([\d.]+)$/gm)) latencies.push(Number(m[1]) * 1000);
    latencies.sort((a, b) => a - b);
    result.p99Ms = latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] : NaN;
  }
  return result;
}
