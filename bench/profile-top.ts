import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Functions listed by default. */
const DEFAULT_TOP = 12;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

/**
 * Top self-time functions of the `.cpuprofile` files a `--profile DIR` run
 * wrote (node --cpu-prof), to say where the shoal process spends its time.
 *
 *   node dist/bench/profile-top.js DIR [COUNT]
 */
function main(): void {
  const [dir, countArg] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write('usage: profile-top DIR [COUNT]\n');
    process.exit(2);
  }
  const top = Number(countArg ?? DEFAULT_TOP);
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const self = new Map<string, number>();
    let total = 0;
    for (const node of profile.nodes) {
      const hits = node.hitCount ?? 0;
      total += hits;
      const { functionName, url, lineNumber } = node.callFrame;
      const where = url ? `${url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${lineNumber + 1}` : '';
      const key = `${functionName || '(anonymous)'} ${where}`.trim();
      self.set(key, (self.get(key) ?? 0) + hits);
    }
    process.stdout.write(`${file}: ${total} samples, ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s\n`);
    const sorted = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
    for (const [name, hits] of sorted) {
      process.stdout.write(`  ${((100 * hits) / Math.max(1, total)).toFixed(1).padStart(5)}%  ${name}\n`);
    }
  }
}

main();
