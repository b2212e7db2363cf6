import pino from 'pino';
import { Registry } from 'prom-client';
import { UserspaceDataplane } from '../src/mesh/dataplane/userspace/userspace-dataplane';
import type { Backend } from '../src/mesh/table/table';

/** Most relay threads `--threads` accepts. */
const MAX_THREADS = 64;
const USAGE = `usage: shoal-proxy tcp|udp HOST:PORT BACKEND_HOST:PORT... [--threads 1..${MAX_THREADS}]\n`;

/**
 * A shoal proxy process for the benchmarks: one userspace dataplane, one
 * frontend, in its own node process. `--threads N` (default 1, as HAProxy
 * nbthread 1) sets the native TCP relay's threads; UDP stays on the main thread.
 *
 *   node dist/bench/shoal-proxy.js tcp|udp LISTEN_HOST:PORT BACKEND_HOST:PORT... [--threads N]
 *
 * Prints `ready` once the frontend listens; SIGTERM closes it and exits, so
 * `--cpu-prof` writes its profile.
 */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let threads = 1;
  for (let i = argv.indexOf('--threads'); i >= 0; i = argv.indexOf('--threads')) {
    const value = argv[i + 1] ?? '';
    threads = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(threads >= 1 && threads <= MAX_THREADS)) usage();
    argv.splice(i, 2);
  }
  const [protocol, listen, ...backendArgs] = argv;
  if ((protocol !== 'tcp' && protocol !== 'udp') || !listen || backendArgs.length === 0) usage();
  const [address, port] = splitHostPort(listen);
  const backends: Backend[] = backendArgs.map((b, i) => {
    const [host, p] = splitHostPort(b);
    return { id: `b${i}`, address: host, port: p, weight: 1 };
  });
  const dataplane = new UserspaceDataplane({ logger: pino({ level: 'warn' }), registry: new Registry() }, { threads });
  const result = await dataplane.apply({
    frontends: [{ id: `ingress/${protocol}/${listen}`, kind: 'ingress', protocol, address, port, service: 'bench', backends }],
  });
  if (result.failed.length > 0) {
    process.stderr.write(`cannot open frontend: ${result.failed[0].error}\n`);
    process.exit(1);
  }
  const stop = (): void => {
    void dataplane.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write('ready\n');
}

function usage(): never {
  process.stderr.write(USAGE);
  process.exit(2);
}

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i), Number(s.slice(i + 1))];
}

void main();
