import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { newcHeader, orderEntries, padding, writeCpioGz } from './cpio-newc';

/** A newc reader as the kernel's init/initramfs.c reads: header fields, name, data, four-byte alignment. */
function readNewc(archive: Buffer): { name: string; mode: number; rdev: [number, number]; data: Buffer }[] {
  const out = [];
  let at = 0;
  for (;;) {
    if (at % 4 !== 0) throw new Error(`header at unaligned offset ${at}`);
    if (archive.toString('ascii', at, at + 6) !== '070701') throw new Error(`bad magic at ${at}`);
    const field = (i: number) => parseInt(archive.toString('ascii', at + 6 + i * 8, at + 14 + i * 8), 16);
    const [mode, size, rdevMajor, rdevMinor, nameSize] = [field(1), field(6), field(9), field(10), field(11)];
    const name = archive.toString('utf8', at + 110, at + 110 + nameSize - 1);
    at += 110 + nameSize;
    at += padding(at);
    const data = archive.subarray(at, at + size);
    at += size + padding(size);
    if (name === 'TRAILER!!!') break;
    out.push({ name, mode, rdev: [rdevMajor, rdevMinor] as [number, number], data });
  }
  if (at !== archive.length) throw new Error(`${archive.length - at} bytes after the trailer`);
  return out;
}

t.test('header: magic, hex fields, name padded to four bytes', async (t) => {
  for (const name of ['a', 'ab', 'abc', 'init', 'TRAILER!!!']) {
    const h = newcHeader({ ino: 7, mode: 0o100755, size: 300, name });
    t.equal(h.length % 4, 0, `${name} padded`);
    t.equal(h.toString('ascii', 0, 6), '070701');
    t.equal(h.toString('ascii', 6, 14), '00000007', 'ino');
    t.equal(h.toString('ascii', 14, 22), (0o100755).toString(16).padStart(8, '0'), 'mode');
    t.equal(h.toString('ascii', 54, 62), (300).toString(16).padStart(8, '0'), 'size');
    t.equal(h.toString('ascii', 94, 102), (name.length + 1).toString(16).padStart(8, '0'), 'name size counts the NUL');
  }
  t.same([0, 1, 2, 3, 4, 5].map(padding), [0, 3, 2, 1, 0, 3]);
});

t.test('parents come first and are added when missing', async (t) => {
  const order = orderEntries([
    { kind: 'bytes', path: '/shoal/src/a.js', mode: 0o644, data: Buffer.from('x') },
    { kind: 'symlink', path: '/bin/sh', target: 'busybox' },
    { kind: 'dir', path: '/shoal', mode: 0o700 },
    { kind: 'bytes', path: '/init', mode: 0o755, data: Buffer.from('#!') },
  ]);
  t.same(
    order.map((e) => `${e.kind} ${e.path}`),
    ['dir /bin', 'symlink /bin/sh', 'bytes /init', 'dir /shoal', 'dir /shoal/src', 'bytes /shoal/src/a.js'],
  );
  t.match(order[3], { mode: 0o700 }, 'a given directory keeps its mode');
});

t.test('a written archive reads back member by member', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-cpio-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const source = join(dir, 'five');
  await writeFile(source, 'hello');
  const out = join(dir, 'a.cpio.gz');
  await writeCpioGz(
    [
      { kind: 'file', path: '/bin/node', mode: 0o755, source, size: 5 },
      { kind: 'chardev', path: '/dev/console', mode: 0o600, major: 5, minor: 1 },
      { kind: 'symlink', path: '/bin/sh', target: 'busybox' },
      { kind: 'bytes', path: '/etc/x.json', mode: 0o644, data: Buffer.from('{}') },
    ],
    out,
  );
  const members = readNewc(gunzipSync(await readFile(out)));
  t.same(
    members.map((m) => [m.name, m.mode.toString(8), m.data.toString(), m.rdev]),
    [
      ['bin', '40755', '', [0, 0]],
      ['bin/node', '100755', 'hello', [0, 0]],
      ['bin/sh', '120777', 'busybox', [0, 0]],
      ['dev', '40755', '', [0, 0]],
      ['dev/console', '20600', '', [5, 1]],
      ['etc', '40755', '', [0, 0]],
      ['etc/x.json', '100644', '{}', [0, 0]],
    ],
  );
});

t.test('a file that changes size while archived fails the build', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-cpio-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const source = join(dir, 'f');
  await writeFile(source, 'longer than said');
  await t.rejects(writeCpioGz([{ kind: 'file', path: '/f', mode: 0o644, source, size: 3 }], join(dir, 'b.cpio.gz')), /changed while archiving/);
});
