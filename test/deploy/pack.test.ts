/**
 * What `npm pack` puts in the tarball: the built CLI the `shoal` bin points
 * at, the native sources the install script builds, deploy/ (the demo stack
 * `shoal up` deploys, the operator kit), and no tests or TypeScript sources.
 * Runs `npm pack --dry-run --ignore-scripts`: without `prepare`, so it lists
 * the dist/ the suite already built instead of rebuilding it under other tests.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

const ROOT = path.resolve(__dirname, '../../..');
const run = promisify(execFile);

t.test('npm pack carries the built CLI, native sources and deploy/, no tests', async (t) => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; private?: boolean };
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 16 << 20 });
  const [report] = JSON.parse(stdout) as { files: { path: string }[] }[];
  const files = new Set(report.files.map((f) => f.path));

  t.equal(pkg.private, true, 'still private: npm pack works, npm publish is refused');
  t.ok(files.has(pkg.bin.shoal), `the bin ${pkg.bin.shoal} is packed`);
  for (const f of ['package.json', 'README.md', 'deploy/stack.yml', 'deploy/demo/web.js', 'deploy/prometheus.yml', 'deploy/grafana/shoal-dashboard.json', 'deploy/systemd/shoal.service', 'deploy/systemd/shoal.env', 'native/binding.gyp']) {
    t.ok(files.has(f), `${f} is packed`);
  }
  const gyp = JSON.parse(readFileSync(path.join(ROOT, 'native', 'binding.gyp'), 'utf8')) as { targets: { sources: string[] }[] };
  const nativeSources = gyp.targets.flatMap((tg) => tg.sources).map((s) => `native/${s}`);
  t.same(nativeSources.filter((s) => !files.has(s)), [], 'every source binding.gyp builds is packed');
  t.ok(files.has('native/src/shoal.h'), 'the addon header is packed');

  const unwanted = [...files].filter((f) => /^(test|dist\/test|bench|dist\/bench|src|node_modules|\.ci|native\/build)\//.test(f) || f.endsWith('.tsbuildinfo'));
  t.same(unwanted, [], 'no tests, benchmarks, TypeScript sources or build outputs');
});

t.test("the bin prints the package's version: what `shoal --version` reads is the packed package.json", async (t) => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; version: string };
  for (const flag of ['--version', '-v']) {
    const { stdout } = await run(process.execPath, [path.join(ROOT, pkg.bin.shoal), flag]);
    t.equal(stdout.trim(), pkg.version, `shoal ${flag}`);
  }
});
