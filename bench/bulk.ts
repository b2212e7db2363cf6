import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_HOST, BenchRun, compareProxies, freePort, parseFlags, requireTools, runTool, waitForTcp } from './harness';

/** Default length of each iperf3 run. */
const DEFAULT_SECONDS = 10;

/** Bits per second the iperf3 receiver counted, from `iperf3 -J`. */
function parseIperf(out: string): number {
  const json = JSON.parse(out.slice(out.indexOf('{'))) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
  const bps = json.end?.sum_received?.bits_per_second;
  if (bps === undefined) throw new Error(`iperf3 failed: ${json.error ?? out.slice(0, 500)}`);
  return bps;
}

/** Bulk throughput: one iperf3 stream through HAProxy (tcp, `nbthread T`) and through a shoal proxy process (`--threads T`). */
async function main(): Promise<void> {
  requireTools([
    { command: 'haproxy', debianPackage: 'haproxy' },
    { command: 'iperf3', debianPackage: 'iperf3' },
  ]);
  const flags = parseFlags(process.argv.slice(2), DEFAULT_SECONDS);
  const run = new BenchRun('bulk');
  try {
    const backend = await freePort();
    run.start('iperf3', ['-s', '-B', BENCH_HOST, '-p', String(backend)], 'iperf3 server');
    await waitForTcp(backend);

    await compareProxies<number>(run, flags, {
      name: 'bulk',
      anchorName: 'haproxy',
      anchorThreads: (threads) => `haproxy nbthread ${threads}`,
      load: `iperf3 -t ${flags.seconds}, 1 stream`,
      protocol: 'tcp',
      backends: [`${BENCH_HOST}:${backend}`],
      startAnchor: async (threads, port) => {
        const cfg = join(run.dir, `haproxy-${threads}.cfg`);
        writeFileSync(
          cfg,
          `global
  nbthread ${threads}
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend f
  bind ${BENCH_HOST}:${port}
  default_backend b
backend b
  server s1 ${BENCH_HOST}:${backend}
`,
        );
        const haproxy = run.start('haproxy', ['-db', '-f', cfg], `haproxy nbthread ${threads}`);
        await waitForTcp(port);
        return haproxy;
      },
      measure: async (port) =>
        parseIperf(await runTool('iperf3', ['-c', BENCH_HOST, '-p', String(port), '-t', String(flags.seconds), '-J'])),
      rows: (ha, sh) => [{ metric: 'throughput', anchor: ha / 1e9, shoal: sh / 1e9, unit: 'Gbit/s' }],
      headline: (bps) => bps,
    });
  } finally {
    await run.cleanup();
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
