import pino from 'pino';
import { Registry } from 'prom-client';
import { DnsServer } from '../src/mesh/dns/server';
import type { DnsView } from '../src/mesh/dns/view';
import { serviceName, serviceVip } from './dns-load';

/**
 * A shoal DNS server process for the benchmarks, with `COUNT` services
 * `svc-0..` in VIP mode and no upstreams, in its own node process.
 *
 *   node dist/bench/shoal-dns.js HOST:PORT COUNT
 *
 * Prints `ready` once it listens; SIGTERM closes it and exits, so
 * `--cpu-prof` writes its profile.
 */
async function main(): Promise<void> {
  const [listen, countArg] = process.argv.slice(2);
  const i = listen?.lastIndexOf(':') ?? -1;
  const count = Number(countArg);
  if (i < 0 || !Number.isInteger(count)) {
    process.stderr.write('usage: shoal-dns HOST:PORT COUNT\n');
    process.exit(2);
  }
  const view: DnsView = { services: new Map() };
  for (let s = 0; s < count; s++) {
    view.services.set(serviceName(s), { vip: serviceVip(s), mode: 'vip', taskAddresses: [`10.201.0.${(s % 250) + 1}`] });
  }
  const server = new DnsServer(
    { logger: pino({ level: 'warn' }), registry: new Registry(), getView: () => view },
    { address: listen.slice(0, i), port: Number(listen.slice(i + 1)), upstreams: [] },
  );
  await server.listen();
  const stop = (): void => {
    void server.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write('ready\n');
}

void main();
