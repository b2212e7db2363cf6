import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BENCH_HOST,
  BenchRun,
  compareProxies,
  freePort,
  nginxPreamble,
  parseFlags,
  requireTools,
  runTool,
  startNginx,
  waitForTcp,
} from './harness';

/** wrk connections, as the benchmark says. */
const WRK_CONNECTIONS = 64;
/** wrk threads: the load generator's share of the 2 cores. */
const WRK_THREADS = 2;
/** Default length of each wrk run. */
const DEFAULT_SECONDS = 10;

/** What one wrk run measured. */
export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** Parses `wrk --latency` output. */
export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!rps) throw new Error(`cannot parse wrk output:\n${out}`);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    if (!m) return NaN;
    const scale = m[2] === 'us' ? 0.001 : m[2] === 'ms' ? 1 : 1000;
    return Number(m[1]) * scale;
  };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errors = (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return { requestsPerSecond: Number(rps[1]), p50Ms: pct('50'), p99Ms: pct('99'), errors };
}

/**
 * Two nginx `return 200` backends, HAProxy (tcp, `nbthread T`) and a shoal
 * proxy process (`--threads T`) in front, wrk through each, for each T of `--threads`.
 */
export async function runHttpBench(name: string, connectionClose: boolean): Promise<void> {
  requireTools([
    { command: 'haproxy', debianPackage: 'haproxy' },
    { command: 'nginx', debianPackage: 'nginx' },
    { command: 'wrk', debianPackage: 'wrk' },
  ]);
  const flags = parseFlags(process.argv.slice(2), DEFAULT_SECONDS);
  const run = new BenchRun(name);
  try {
    const [b1, b2] = [await freePort(), await freePort()];
    startNginx(
      run,
      'backends',
      `${nginxPreamble(join(run.dir, 'backends'))}
worker_processes 1;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${run.dir}/backends/body;
  proxy_temp_path ${run.dir}/backends/proxy;
  fastcgi_temp_path ${run.dir}/backends/fastcgi;
  uwsgi_temp_path ${run.dir}/backends/uwsgi;
  scgi_temp_path ${run.dir}/backends/scgi;
  server { listen ${BENCH_HOST}:${b1}; location / { return 200 "ok\\n"; } }
  server { listen ${BENCH_HOST}:${b2}; location / { return 200 "ok\\n"; } }
}
`,
    );
    await Promise.all([waitForTcp(b1), waitForTcp(b2)]);

    await compareProxies<WrkResult>(run, flags, {
      name,
      anchorName: 'haproxy',
      anchorThreads: (threads) => `haproxy nbthread ${threads}`,
      load: `wrk -c${WRK_CONNECTIONS} -t${WRK_THREADS} -d${flags.seconds}s${connectionClose ? " -H 'Connection: close'" : ''}`,
      protocol: 'tcp',
      backends: [`${BENCH_HOST}:${b1}`, `${BENCH_HOST}:${b2}`],
      startAnchor: async (threads, port) => {
        const cfg = join(run.dir, `haproxy-${threads}.cfg`);
        writeFileSync(
          cfg,
          `global
  nbthread ${threads}
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend f
  bind ${BENCH_HOST}:${port}
  default_backend b
backend b
  balance roundrobin
  server s1 ${BENCH_HOST}:${b1}
  server s2 ${BENCH_HOST}:${b2}
`,
        );
        const haproxy = run.start('haproxy', ['-db', '-f', cfg], `haproxy nbthread ${threads}`);
        await waitForTcp(port);
        return haproxy;
      },
      measure: async (port) => {
        const args = ['-c', String(WRK_CONNECTIONS), '-t', String(WRK_THREADS), '-d', `${flags.seconds}s`, '--latency'];
        if (connectionClose) args.push('-H', 'Connection: close');
        return parseWrk(await runTool('wrk', [...args, `http://${BENCH_HOST}:${port}/`]));
      },
      rows: (ha, sh) => {
        const rows = [
          { metric: 'requests/s', anchor: ha.requestsPerSecond, shoal: sh.requestsPerSecond, unit: 'req/s' },
          { metric: 'p50 latency', anchor: ha.p50Ms, shoal: sh.p50Ms, unit: 'ms' },
          { metric: 'p99 latency', anchor: ha.p99Ms, shoal: sh.p99Ms, unit: 'ms' },
          { metric: 'errors', anchor: ha.errors, shoal: sh.errors, unit: 'count' },
        ];
        return connectionClose ? rows.filter((r) => r.metric !== 'p50 latency') : rows;
      },
      headline: (r) => r.requestsPerSecond,
    });
  } finally {
    await run.cleanup();
  }
}
