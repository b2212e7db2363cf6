import { BenchRun, freePort, parseFlags, requireTools, sleep, startShoal, waitForLine } from './harness';
import { dnsperf, startDnsmasq, writeNames } from './dns-load';
import { printSummary, printTable } from './report';
import { nativeLoadResult } from '../src/native/native';

/** Default length of each dnsperf throughput run. */
const DEFAULT_SECONDS = 10;
/** Services shoal knows and names dnsmasq knows. */
const NAMES = 1000;
/** Time given to dnsmasq to bind; UDP has no connect to probe with. */
const UDP_BIND_WAIT_MS = 500;

/**
 * DNS server: dnsperf against shoal's DnsServer (1,000 services) and dnsmasq
 * (the same 1,000 names); shoal runs twice, with the native addon (batched
 * recvmmsg/sendmmsg) and with SHOAL_NATIVE=0 (Node's dgram).
 */
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

    const runShoal = async (nativeOff: boolean) => {
      const saved = process.env.SHOAL_NATIVE;
      if (nativeOff) process.env.SHOAL_NATIVE = '0';
      const shoal = startShoal(run, 'shoal-dns', [`127.0.0.1:${shoalPort}`, String(NAMES)], flags.profileDir);
      if (saved === undefined) delete process.env.SHOAL_NATIVE;
      else process.env.SHOAL_NATIVE = saved;
      await waitForLine(shoal, 'ready');
      const result = await dnsperf(shoalPort, queries, flags.seconds, true);
      await run.stop(shoal);
      return result;
    };
    const native = nativeLoadResult();
    const sh = await runShoal(false);
    const js = await runShoal(true);

    const rows = (r: typeof sh) => [
      { metric: 'queries/s', anchor: dm.queriesPerSecond, shoal: r.queriesPerSecond, unit: 'q/s' },
      { metric: 'p99 latency', anchor: dm.p99Ms, shoal: r.p99Ms, unit: 'ms' },
      { metric: 'lost', anchor: dm.lost, shoal: r.lost, unit: 'queries' },
      { metric: 'loss', anchor: (100 * dm.lost) / dm.sent, shoal: (100 * r.lost) / r.sent, unit: '%' },
    ];
    printTable(
      `dns: dnsperf -l ${flags.seconds}, ${NAMES} names, 1 thread each (p99 from a 3 s verbose run; shoal: addon ${native.status})`,
      'dnsmasq',
      rows(sh),
    );
    printTable(`dns: the same, shoal with SHOAL_NATIVE=0 (Node dgram)`, 'dnsmasq', rows(js));
    printSummary('dns', 'dnsmasq', dm.queriesPerSecond, sh.queriesPerSecond);
    process.stdout.write(
      `dns SHOAL_NATIVE=0 shoal/dnsmasq = ${(js.queriesPerSecond / dm.queriesPerSecond).toFixed(2)}; native/js = ${(sh.queriesPerSecond / js.queriesPerSecond).toFixed(2)}\n`,
    );
  } finally {
    await run.cleanup();
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
