/**
 * A writer of "newc" cpio archives, the format the Linux kernel unpacks as an
 * initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
 * Written here rather than with the cpio tool so the VM test needs one
 * package fewer and the archive's layout (parents first, /dev/console) is
 * under our control.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

/** One archive member: a directory, a regular file (from the host or from bytes), a symlink or a character device. */
export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; mode: number; source: string; size: number }
  | { kind: 'bytes'; path: string; mode: number; data: Buffer }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const NEWC_MAGIC = '070701';
const TRAILER = 'TRAILER!!!';
/** gzip level for the archive: the kernel decompresses any level; 1 keeps building fast. */
const GZIP_LEVEL = 1;

/** The 110-byte newc header plus the NUL-terminated name, padded to four bytes. */
export function newcHeader(fields: { ino: number; mode: number; size: number; rdevMajor?: number; rdevMinor?: number; name: string }): Buffer {
  const name = Buffer.from(`${fields.name}\0`);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const values = [fields.ino, fields.mode, 0, 0, 1, 0, fields.size, 0, 0, fields.rdevMajor ?? 0, fields.rdevMinor ?? 0, name.length, 0];
  const header = Buffer.from(NEWC_MAGIC + values.map(hex).join(''), 'ascii');
  return Buffer.concat([header, name, Buffer.alloc(padding(header.length + name.length))]);
}

/** Zero bytes that bring `length` to a multiple of four. */
export function padding(length: number): number {
  return (4 - (length % 4)) % 4;
}

/**
 * The archive's members in an order the kernel can unpack: every parent
 * directory (added when missing) before what it holds. Paths are absolute;
 * the archive stores them without the leading slash.
 */
export function orderEntries(entries: readonly CpioEntry[]): CpioEntry[] {
  const byPath = new Map<string, CpioEntry>();
  for (const e of entries) {
    const parts = e.path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = `/${parts.slice(0, i).join('/')}`;
      if (!byPath.has(dir)) byPath.set(dir, { kind: 'dir', path: dir });
    }
    byPath.set(`/${parts.join('/')}`, e);
  }
  // A parent's path is a prefix of its children's, so plain code-unit order puts it first.
  return [...byPath.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
}

/** Write `entries` as a gzip-compressed newc archive to `outFile`. */
export async function writeCpioGz(entries: readonly CpioEntry[], outFile: string): Promise<void> {
  await pipeline(Readable.from(archiveChunks(orderEntries(entries))), createGzip({ level: GZIP_LEVEL }), createWriteStream(outFile));
}

async function* archiveChunks(entries: readonly CpioEntry[]): AsyncGenerator<Buffer> {
  let ino = 1;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    switch (e.kind) {
      case 'dir':
        yield newcHeader({ ino: ino++, mode: S_IFDIR | (e.mode ?? 0o755), size: 0, name });
        break;
      case 'chardev':
        yield newcHeader({ ino: ino++, mode: S_IFCHR | e.mode, size: 0, rdevMajor: e.major, rdevMinor: e.minor, name });
        break;
      case 'symlink': {
        const target = Buffer.from(e.target);
        yield newcHeader({ ino: ino++, mode: S_IFLNK | 0o777, size: target.length, name });
        yield Buffer.concat([target, Buffer.alloc(padding(target.length))]);
        break;
      }
      case 'bytes':
        yield newcHeader({ ino: ino++, mode: S_IFREG | e.mode, size: e.data.length, name });
        yield Buffer.concat([e.data, Buffer.alloc(padding(e.data.length))]);
        break;
      case 'file': {
        yield newcHeader({ ino: ino++, mode: S_IFREG | e.mode, size: e.size, name });
        let written = 0;
        for await (const chunk of createReadStream(e.source)) {
          written += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        // The header promised `size` bytes; a file that changed meanwhile would corrupt every later member.
        if (written !== e.size) throw new Error(`${e.source} changed while archiving (${written} bytes, expected ${e.size})`);
        yield Buffer.alloc(padding(e.size));
        break;
      }
    }
  }
  yield newcHeader({ ino: 0, mode: 0, size: 0, name: TRAILER });
}
