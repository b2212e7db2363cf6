import pino from 'pino';
import { Registry } from 'prom-client';
import { UserspaceDataplane } from '../src/mesh/dataplane/userspace/userspace-dataplane';
import type { Backend } from '../src/mesh/table/table';

/**
 * A shoal proxy process for the benchmarks: one userspace dataplane, one
 * frontend, in its own node process (one thread, as HAProxy nbthread 1).
 *
 *   node dist/bench/shoal-proxy.js tcp|udp LISTEN_HOST:PORT BACKEND_HOST:PORT...
 *
 * Prints `ready` once the frontend listens; SIGTERM closes it and exits, so
 * `--cpu-prof` writes its profile.
 */
async function main(): Promise<void> {
  const [protocol, listen, ...backendArgs] = process.argv.slice(2);
  if ((protocol !== 'tcp' && protocol !== 'udp') || !listen || backendArgs.length === 0) {
    process.stderr.write('usage: shoal-proxy tcp|udp HOST:PORT BACKEND_HOST:PORT...\n');
    process.exit(2);
  }
  const [address, port] = splitHostPort(listen);
  const backends: Backend[] = backendArgs.map((b, i) => {
    const [host, p] = splitHostPort(b);
    return { id: `b${i}`, address: host, port: p, weight: 1 };
  });
  const dataplane = new UserspaceDataplane({ logger: pino({ level: 'warn' }), registry: new Registry() });
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

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i), Number(s.slice(i + 1))];
}

void main();
