import { join } from 'node:path';
import { BENCH_HOST, BenchRun, compareProxies, freePort, nginxPreamble, parseFlags, requireTools, sleep, startNginx } from './harness';
import { dnsperf, startDnsmasq, writeNames, type DnsperfResult } from './dns-load';

/** Default length of each dnsperf run. */
const DEFAULT_SECONDS = 10;
/** Names the backend dnsmasq knows. */
const NAMES = 1000;
/** Time given to a UDP server to bind; UDP has no connect to probe with. */
const UDP_BIND_WAIT_MS = 500;

/**
 * UDP proxying: dnsperf through nginx stream (`worker_processes T`) and
 * through a shoal proxy process (`--threads T`; its UDP relay stays on the
 * main thread) to one dnsmasq; at T=1 shoal also runs with SHOAL_NATIVE=0
 * (Node's dgram instead of the addon's batched recvmmsg/sendmmsg).
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
    const backend = await freePort(true);
    startDnsmasq(run, backend, hosts);
    await sleep(UDP_BIND_WAIT_MS);

    await compareProxies<DnsperfResult>(run, flags, {
      name: 'udp',
      anchorName: 'nginx',
      anchorThreads: (threads) => `nginx worker_processes ${threads}`,
      load: `dnsperf -l ${flags.seconds} through the proxy to dnsmasq`,
      protocol: 'udp',
      backends: [`${BENCH_HOST}:${backend}`],
      startAnchor: async (threads, port) => {
        const name = `stream-${threads}`;
        const nginx = startNginx(
          run,
          name,
          `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
${nginxPreamble(join(run.dir, name))}
worker_processes ${threads};
events { worker_connections 16384; }
stream {
  upstream dns { server ${BENCH_HOST}:${backend}; }
  server {
    listen ${BENCH_HOST}:${port} udp;
    proxy_pass dns;
    proxy_responses 1;
    proxy_timeout 2s;
  }
}
`,
        );
        await sleep(UDP_BIND_WAIT_MS);
        return nginx;
      },
      measure: (port) => dnsperf(port, queries, flags.seconds, false),
      rows: (ng, sh) => [
        { metric: 'queries/s', anchor: ng.queriesPerSecond, shoal: sh.queriesPerSecond, unit: 'q/s' },
        { metric: 'lost', anchor: ng.lost, shoal: sh.lost, unit: 'queries' },
        { metric: 'loss', anchor: (100 * ng.lost) / ng.sent, shoal: (100 * sh.lost) / sh.sent, unit: '%' },
      ],
      headline: (r) => r.queriesPerSecond,
      fallbackNote: (native, js) => `native/js = ${(native.queriesPerSecond / js.queriesPerSecond).toFixed(2)}`,
    });
  } finally {
    await run.cleanup();
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
