import { join } from 'node:path';
import { BENCH_HOST, BenchRun, freePort, nginxPreamble, parseFlags, requireTools, sleep, startNginx, startShoal, waitForLine } from './harness';
import { dnsperf, startDnsmasq, writeNames } from './dns-load';
import { printSummary, printTable } from './report';
import { nativeLoadResult } from '../src/native/native';

/** Default length of each dnsperf run. */
const DEFAULT_SECONDS = 10;
/** Names the backend dnsmasq knows. */
const NAMES = 1000;
/** Time given to a UDP server to bind; UDP has no connect to probe with. */
const UDP_BIND_WAIT_MS = 500;

/**
 * UDP proxying: dnsperf through nginx stream (worker_processes 1) and through
 * a shoal proxy process to one dnsmasq; shoal runs twice, with the native
 * addon (batched recvmmsg/sendmmsg) and with SHOAL_NATIVE=0 (Node's dgram).
 */
async function main(): Promise<void> {
  requireTools([
    { command: 'nginx', debianPackage: 'nginx libnginx-mod-stream' },
    { command: 'dnsmasq', debianPackage: 'dnsmasq' },
    { command: 'dnsperf', debianPackage: 'dnsperf' },
  ]);
  const flags = parseFlags(process.argv.slice(2), DEFAULT_SECONDS);
  const run = new BenchRun('udp');
  try {
    const { hosts, queries } = writeNames(run.dir, NAMES);
    const [backend, nginxPort, shoalPort] = [await freePort(true), await freePort(true), await freePort(true)];
    startDnsmasq(run, backend, hosts);
    await sleep(UDP_BIND_WAIT_MS);

    const nginx = startNginx(
      run,
      'stream',
      `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
${nginxPreamble(join(run.dir, 'stream'))}
worker_processes 1;
events { worker_connections 16384; }
stream {
  upstream dns { server ${BENCH_HOST}:${backend}; }
  server {
    listen ${BENCH_HOST}:${nginxPort} udp;
    proxy_pass dns;
    proxy_responses 1;
    proxy_timeout 2s;
  }
}
`,
    );
    await sleep(UDP_BIND_WAIT_MS);
    const ng = await dnsperf(nginxPort, queries, flags.seconds, false);
    await run.stop(nginx);

    const runShoal = async (nativeOff: boolean) => {
      const saved = process.env.SHOAL_NATIVE;
      if (nativeOff) process.env.SHOAL_NATIVE = '0';
      const shoal = startShoal(run, 'shoal-proxy', ['udp', `${BENCH_HOST}:${shoalPort}`, `${BENCH_HOST}:${backend}`], flags.profileDir);
      if (saved === undefined) delete process.env.SHOAL_NATIVE;
      else process.env.SHOAL_NATIVE = saved;
      await waitForLine(shoal, 'ready');
      const result = await dnsperf(shoalPort, queries, flags.seconds, false);
      await run.stop(shoal);
      return result;
    };
    const native = nativeLoadResult();
    const sh = await runShoal(false);
    const js = await runShoal(true);

    const rows = (r: typeof sh) => [
      { metric: 'queries/s', anchor: ng.queriesPerSecond, shoal: r.queriesPerSecond, unit: 'q/s' },
      { metric: 'lost', anchor: ng.lost, shoal: r.lost, unit: 'queries' },
      { metric: 'loss', anchor: (100 * ng.lost) / ng.sent, shoal: (100 * r.lost) / r.sent, unit: '%' },
    ];
    printTable(`udp: dnsperf -l ${flags.seconds} through the proxy to dnsmasq, 1 proxy thread each (shoal: addon ${native.status})`, 'nginx', rows(sh));
    printTable(`udp: the same, shoal with SHOAL_NATIVE=0 (Node dgram)`, 'nginx', rows(js));
    printSummary('udp', 'nginx', ng.queriesPerSecond, sh.queriesPerSecond);
    process.stdout.write(
      `udp SHOAL_NATIVE=0 shoal/nginx = ${(js.queriesPerSecond / ng.queriesPerSecond).toFixed(2)}; native/js = ${(sh.queriesPerSecond / js.queriesPerSecond).toFixed(2)}\n`,
    );
  } finally {
    await run.cleanup();
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
