import { promises as fs } from 'node:fs';

/** Bytes read per step when scanning a log backwards for its last lines. */
const TAIL_CHUNK_BYTES = 64 * 1024;

/**
 * Reads a task's log, or only its last `tail` lines, scanning backwards so a
 * large log costs only what is asked for. A final line without a newline
 * counts as a line (the process may still be writing it).
 */
export async function readLog(file: string, tail?: number): Promise<string> {
  if (tail === undefined) return fs.readFile(file, 'utf8');
  if (tail <= 0) return '';
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    let start = size;
    let buf = Buffer.alloc(0);
    for (;;) {
      // Each newline before the final one starts a line that is whole in buf.
      const endsWithNewline = buf.length > 0 && buf[buf.length - 1] === 0x0a;
      const wholeLines = countNewlines(buf) - (endsWithNewline ? 1 : 0);
      if (wholeLines >= tail || start === 0) break;
      const len = Math.min(TAIL_CHUNK_BYTES, start);
      start -= len;
      const chunk = Buffer.alloc(len);
      await fh.read(chunk, 0, len, start);
      buf = Buffer.concat([chunk, buf]);
    }
    if (buf.length === 0) return '';
    const lines = buf.toString('utf8').split('\n');
    const trailing = lines[lines.length - 1] === '' ? lines.pop() : undefined;
    return lines.slice(-tail).join('\n') + (trailing === undefined ? '' : '\n');
  } finally {
    await fh.close();
  }
}

function countNewlines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}
