import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** The benchmarks, in the order the issue lists them. */
const BENCHMARKS = ['tcp-keepalive', 'tcp-newconn', 'bulk', 'udp', 'dns'];

/**
 * Runs the five benchmarks one after another (flags such as `--seconds 5`
 * are passed on) and repeats all their summary lines (1 and 2 threads,
 * SHOAL_NATIVE=0) at the end.
 */
function main(): void {
  const summaries: string[] = [];
  let failed = 0;
  for (const name of BENCHMARKS) {
    const r = spawnSync(process.execPath, [join(__dirname, `${name}.js`), ...process.argv.slice(2)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    });
    process.stdout.write(r.stdout);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith(`${name} `) && l.includes(' = '));
    summaries.push(...lines);
    if (r.status !== 0 || lines.length === 0) summaries.push(`${name} failed (exit ${r.status})`);
    if (r.status !== 0) failed++;
  }
  process.stdout.write(`\nsummary\n${summaries.join('\n')}\n`);
  process.exitCode = failed ? 1 : 0;
}

main();
