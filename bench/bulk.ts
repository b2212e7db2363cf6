import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_HOST, BenchRun, freePort, parseFlags, requireTools, runTool, startShoal, waitForLine, waitForTcp } from './harness';
import { printSummary, printTable } from './report';

/** Default length of each iperf3 run. */
const DEFAULT_SECONDS = 10;

/** Bits per second the iperf3 receiver counted, from `iperf3 -J`. */
function parseIperf(out: string): number {
  const json = JSON.parse(out.slice(out.indexOf('{'))) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
  const bps = json.end?.sum_received?.bits_per_second;
  if (bps === undefined) throw new Error(`iperf3 failed: ${json.error ?? out.slice(0, 500)}`);
  return bps;
}

/** Bulk throughput: one iperf3 stream through HAProxy (tcp, nbthread 1) and through a shoal proxy process. */
async function main(): Promise<void> {
  requireTools([
    { command: 'haproxy', debianPackage: 'haproxy' },
    { command: 'iperf3', debianPackage: 'iperf3' },
  ]);
  const flags = parseFlags(process.argv.slice(2), DEFAULT_SECONDS);
  const run = new BenchRun('bulk');
  try {
    const [backend, haPort, shoalPort] = [await freePort(), await freePort(), await freePort()];
    run.start('iperf3', ['-s', '-B', BENCH_HOST, '-p', String(backend)], 'iperf3 server');
    await waitForTcp(backend);
    const iperf = async (port: number): Promise<number> =>
      parseIperf(await runTool('iperf3', ['-c', BENCH_HOST, '-p', String(port), '-t', String(flags.seconds), '-J']));

    const haCfg = join(run.dir, 'haproxy.cfg');
    writeFileSync(
      haCfg,
      `global
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend f
  bind ${BENCH_HOST}:${haPort}
  default_backend b
backend b
  server s1 ${BENCH_HOST}:${backend}
`,
    );
    const haproxy = run.start('haproxy', ['-db', '-f', haCfg], 'haproxy');
    await waitForTcp(haPort);
    const ha = await iperf(haPort);
    await run.stop(haproxy);

    const shoal = startShoal(run, 'shoal-proxy', ['tcp', `${BENCH_HOST}:${shoalPort}`, `${BENCH_HOST}:${backend}`], flags.profileDir);
    await waitForLine(shoal, 'ready');
    const sh = await iperf(shoalPort);
    await run.stop(shoal);

    printTable(`bulk: iperf3 -t ${flags.seconds}, 1 stream, 1 proxy thread each`, 'haproxy', [
      { metric: 'throughput', anchor: ha / 1e9, shoal: sh / 1e9, unit: 'Gbit/s' },
    ]);
    printSummary('bulk', 'haproxy', ha, sh);
  } finally {
    await run.cleanup();
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
