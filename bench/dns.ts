import { BenchRun, freePort, parseFlags, requireTools, sleep, startShoal, waitForLine } from './harness';
import { dnsperf, startDnsmasq, writeNames } from './dns-load';
import { printSummary, printTable } from './report';

/** Default length of each dnsperf throughput run. */
const DEFAULT_SECONDS = 10;
/** Services shoal knows and names dnsmasq knows. */
const NAMES = 1000;
/** Time given to dnsmasq to bind; UDP has no connect to probe with. */
const UDP_BIND_WAIT_MS = 500;

/** DNS server: dnsperf against shoal's DnsServer (1,000 services) and dnsmasq (the same 1,000 names). */
async function main(): Promise<void> {
  requireTools([
    { command: 'dnsmasq', debianPackage: 'dnsmasq' },
    { command: 'dnsperf', debianPackage: 'dnsperf' },
  ]);
  const flags = parseFlags(process.argv.slice(2), DEFAULT_SECONDS);
  const run = new BenchRun('dns');
  try {
    const { hosts, queries } = writeNames(run.dir, NAMES);
    const [dnsmasqPort, shoalPort] = [await freePort(true), await freePort(true)];
    const dnsmasq = startDnsmasq(run, dnsmasqPort, hosts);
    await sleep(UDP_BIND_WAIT_MS);
    const dm = await dnsperf(dnsmasqPort, queries, flags.seconds, true);
    await run.stop(dnsmasq);

    const shoal = startShoal(run, 'shoal-dns', [`127.0.0.1:${shoalPort}`, String(NAMES)], flags.profileDir);
    await waitForLine(shoal, 'ready');
    const sh = await dnsperf(shoalPort, queries, flags.seconds, true);
    await run.stop(shoal);

    printTable(`dns: dnsperf -l ${flags.seconds}, ${NAMES} names, 1 thread each (p99 from a 3 s verbose run)`, 'dnsmasq', [
      { metric: 'queries/s', anchor: dm.queriesPerSecond, shoal: sh.queriesPerSecond, unit: 'q/s' },
      { metric: 'p99 latency', anchor: dm.p99Ms, shoal: sh.p99Ms, unit: 'ms' },
      { metric: 'lost', anchor: dm.lost, shoal: sh.lost, unit: 'queries' },
      { metric: 'loss', anchor: (100 * dm.lost) / dm.sent, shoal: (100 * sh.lost) / sh.sent, unit: '%' },
    ]);
    printSummary('dns', 'dnsmasq', dm.queriesPerSecond, sh.queriesPerSecond);
  } finally {
    await run.cleanup();
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
