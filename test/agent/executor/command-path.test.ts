import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { lookupCommand } from '../../../src/agent/executor/command-path';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-command-path-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
fs.mkdirSync(path.join(dir, 'bin'));
fs.writeFileSync(path.join(dir, 'bin', 'tool'), '#!/bin/sh\n', { mode: 0o755 });
fs.writeFileSync(path.join(dir, 'bin', 'data'), 'not executable', { mode: 0o644 });
fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
fs.mkdirSync(path.join(dir, 'sub'));

const cases: { name: string; cmd: string; PATH?: string; want: { ok: true; path: string } | { ok: false; message: string } }[] = [
  { name: 'bare name found in PATH', cmd: 'tool', PATH: `/nonexistent:${dir}/bin`, want: { ok: true, path: `${dir}/bin/tool` } },
  { name: 'bare name not executable is skipped', cmd: 'data', PATH: `${dir}/bin`, want: { ok: false, message: 'task: exec: "data": executable file not found in $PATH' } },
  { name: 'bare name missing', cmd: 'nope', PATH: `${dir}/bin`, want: { ok: false, message: 'task: exec: "nope": executable file not found in $PATH' } },
  { name: 'no PATH at all', cmd: 'tool', PATH: undefined, want: { ok: false, message: 'task: exec: "tool": executable file not found in $PATH' } },
  { name: 'relative path against cwd', cmd: './run.sh', want: { ok: true, path: `${dir}/run.sh` } },
  { name: 'relative path with a directory', cmd: 'bin/tool', want: { ok: true, path: `${dir}/bin/tool` } },
  { name: 'absolute path', cmd: `${dir}/bin/tool`, want: { ok: true, path: `${dir}/bin/tool` } },
  { name: 'missing path', cmd: './missing', want: { ok: false, message: 'task: exec: "./missing": no such file or directory' } },
  { name: 'directory', cmd: './sub', want: { ok: false, message: 'task: exec: "./sub": is a directory' } },
  { name: 'empty command', cmd: '', want: { ok: false, message: 'task: no command given' } },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(await lookupCommand(c.cmd, dir, c.PATH), c.want);
  });
}
