import { promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSince, parseRecord, type LogRecord } from './log-record';

/** Bytes read per step when scanning a log backwards for its last lines. */
const TAIL_CHUNK_BYTES = 64 * 1024;
/** How often a follower looks for new lines in a live task's log. */
export const FOLLOW_POLL_MS = 200;

/** Which records of a log to read: the last `tail` (all when absent) received at or after `sinceNs`. */
export interface LogQuery {
  tail?: number;
  sinceNs?: bigint;
}

/** Records read from a log, and the byte offset after the last whole line read (where a follower goes on). */
export interface LogChunk {
  records: LogRecord[];
  end: number;
}

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
    const { buf } = await scanBack(fh, size, tail);
    if (buf.length === 0) return '';
    const lines = buf.toString('utf8').split('\n');
    const trailing = lines[lines.length - 1] === '' ? lines.pop() : undefined;
    return lines.slice(-tail).join('\n') + (trailing === undefined ? '' : '\n');
  } finally {
    await fh.close();
  }
}

/**
 * The records of a task's log that `query` asks for. Only whole lines count:
 * a record still being appended is left for the next read (`end`).
 */
export async function readLogRecords(file: string, query: LogQuery = {}): Promise<LogChunk> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (query.tail !== undefined && query.tail <= 0) return { records: [], end: size };
    const { buf, start } = query.tail === undefined ? await readRange(fh, 0, size) : await scanBack(fh, size, query.tail + 1);
    const whole = wholeLines(buf);
    let records = whole.lines.map(parseRecord).filter((r) => isSince(r, query.sinceNs));
    if (query.tail !== undefined) records = records.slice(-query.tail);
    return { records, end: start + whole.bytes };
  } finally {
    await fh.close();
  }
}

/** The whole records appended to a log since byte `offset`. */
export async function readLogFrom(file: string, offset: number, sinceNs?: bigint): Promise<LogChunk> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size <= offset) return { records: [], end: offset };
    const { buf } = await readRange(fh, offset, size);
    const whole = wholeLines(buf);
    return { records: whole.lines.map(parseRecord).filter((r) => isSince(r, sinceNs)), end: offset + whole.bytes };
  } finally {
    await fh.close();
  }
}

/** What a follower needs to know about the task whose log it reads. */
export interface FollowTarget {
  file: string;
  /** Whether the task may still write: false once its process ended and its last lines are on disk. */
  isLive(): boolean;
}

/**
 * Delivers the records `query` asks for, then every record appended after
 * them, until the task is no longer live and its log is read to the end, or
 * `signal` aborts. A log removed meanwhile ends the follow.
 */
export async function followLog(target: FollowTarget, query: LogQuery, onRecords: (r: LogRecord[]) => void, signal: AbortSignal, pollMs = FOLLOW_POLL_MS): Promise<void> {
  try {
    const first = await readLogRecords(target.file, query);
    if (first.records.length) onRecords(first.records);
    let offset = first.end;
    while (!signal.aborted) {
      // Asked before reading: a task that is gone now wrote its last line before this read.
      const live = target.isLive();
      const next = await readLogFrom(target.file, offset, query.sinceNs);
      offset = next.end;
      if (next.records.length) onRecords(next.records);
      if (!live) return;
      await sleep(pollMs, undefined, { signal }).catch(() => undefined);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function readRange(fh: fs.FileHandle, start: number, end: number): Promise<{ buf: Buffer; start: number }> {
  const buf = Buffer.alloc(end - start);
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return { buf: buf.subarray(0, got), start };
}

/** The end of the file [.., size) holding at least `lines` whole lines (or all of it), and where it starts. */
async function scanBack(fh: fs.FileHandle, size: number, lines: number): Promise<{ buf: Buffer; start: number }> {
  let start = size;
  let buf = Buffer.alloc(0);
  for (;;) {
    // Each newline before the final one starts a line that is whole in buf.
    const endsWithNewline = buf.length > 0 && buf[buf.length - 1] === 0x0a;
    const wholeCount = countNewlines(buf) - (endsWithNewline ? 1 : 0);
    if (wholeCount >= lines || start === 0) break;
    const len = Math.min(TAIL_CHUNK_BYTES, start);
    start -= len;
    const chunk = Buffer.alloc(len);
    await fh.read(chunk, 0, len, start);
    buf = Buffer.concat([chunk, buf]);
  }
  // Drop a first line cut in the middle (the scan started inside it).
  if (start > 0) {
    const nl = buf.indexOf(0x0a);
    start += nl + 1;
    buf = buf.subarray(nl + 1);
  }
  return { buf, start };
}

/** The lines of `buf` that end in a newline, and how many bytes they take. */
function wholeLines(buf: Buffer): { lines: string[]; bytes: number } {
  const last = buf.lastIndexOf(0x0a);
  if (last === -1) return { lines: [], bytes: 0 };
  const lines = buf.subarray(0, last).toString('utf8').split('\n');
  return { lines: lines.filter((l) => l !== ''), bytes: last + 1 };
}

function countNewlines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}
