/**
 * The layout rules DESIGN.md states, checked on the source tree: no import
 * cycle (madge, as `npx madge --circular --extensions ts src`), the CLI and
 * the manager meet only in src/spec and src/api, and no source file grows
 * past 400 lines.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

// madge ships no types; its API is madge(path, config) -> { circular(): string[][] }.
const madge = require('madge') as (p: string, config: object) => Promise<{ circular(): string[][] }>;

const ROOT = path.resolve(__dirname, '../..');
const SRC = path.join(ROOT, 'src');
const MAX_LINES = 400;

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative import of a file, resolved to a path under the repository. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(path.resolve(path.dirname(file), m[1]));
  return out;
}

const inside = (p: string, dir: string) => p === dir || p.startsWith(dir + path.sep);
const rel = (p: string) => path.relative(ROOT, p);

t.test('no import cycle in src', async (t) => {
  const res = await madge(SRC, { fileExtensions: ['ts'], tsConfig: path.join(ROOT, 'tsconfig.json') });
  t.same(res.circular(), [], 'madge finds no circular import');
});

t.test('the scan sees the tree', async (t) => {
  const files = sources(SRC);
  t.ok(files.length > 100, `${files.length} source files`);
  t.ok(files.some((f) => importsOf(f).some((i) => inside(i, path.join(SRC, 'spec')))), 'some file imports src/spec');
});

t.test('only the CLI imports the CLI, and the CLI does not import the manager', async (t) => {
  const cli = path.join(SRC, 'cli');
  const manager = path.join(SRC, 'manager');
  const wrong: string[] = [];
  for (const f of sources(SRC)) {
    for (const i of importsOf(f)) {
      if (inside(i, cli) && !inside(f, cli)) wrong.push(`${rel(f)} imports ${rel(i)}`);
      if (inside(f, cli) && inside(i, manager)) wrong.push(`${rel(f)} imports ${rel(i)}`);
    }
  }
  t.same(wrong, []);
});

t.test(`no source file over ${MAX_LINES} lines`, async (t) => {
  const long = sources(SRC)
    .map((f) => ({ f: rel(f), lines: fs.readFileSync(f, 'utf8').split('\n').length - 1 }))
    .filter((x) => x.lines > MAX_LINES)
    .map((x) => `${x.f}: ${x.lines}`);
  t.same(long, []);
});
