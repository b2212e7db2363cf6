import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** The benchmarks, in the order the issue lists them. */
const BENCHMARKS = ['tcp-keepalive', 'tcp-newconn', 'bulk', 'udp', 'dns'];

/**
 * Runs the five benchmarks one after another (flags such as `--seconds 5`
 * are passed on) and repeats their summary lines at the end.
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
    const line = r.stdout.split('\n').find((l) => l.startsWith(`${name} shoal/`));
    summaries.push(line ?? `${name} failed (exit ${r.status})`);
    if (r.status !== 0) failed++;
  }
  process.stdout.write(`\nsummary\n${summaries.join('\n')}\n`);
  process.exitCode = failed ? 1 : 0;
}

main();
