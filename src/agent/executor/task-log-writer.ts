import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import type pino from 'pino';
import { CAUSE_WINDOW_LINES } from './exit-cause';
import { LineSplitter, type LinePiece } from './line-splitter';
import { formatRecord, formatTimestampNs, type LogStream } from './log-record';

/** A line without its newline is written after this long, so a prompt or a progress dot shows up. */
export const PARTIAL_FLUSH_MS = 500;
/** Records waiting for the disk before the task's pipes are paused (backpressure). */
export const LOG_BUFFER_MAX_BYTES = 1024 * 1024;
/**
 * Longest the task's pipes stay paused for a slow disk: after that records
 * are dropped (and counted) rather than the task blocking on a full pipe
 * for as long as the disk hangs.
 */
export const LOG_STALL_MS = 2_000;

/** Side effects of a log writer. */
export interface TaskLogWriterDeps {
  logger: pino.Logger;
  /** Wall clock in nanoseconds (log-record.ts monotonicWallClockNs). */
  nowNs: () => bigint;
}

/** Settings of a log writer; the defaults are the named constants above. */
export interface TaskLogWriterOptions {
  flushDelayMs?: number;
  bufferMaxBytes?: number;
  stallMs?: number;
}

interface Source {
  stream: Readable;
  kind: LogStream;
  splitter: LineSplitter;
  timer?: NodeJS.Timeout;
  ended: boolean;
}

/**
 * Writes a task's stdout and stderr into its log file as records (one JSON
 * line each, log-record.ts), keeping each stream's line order, and remembers
 * the last lines of each for the exit cause. It never holds the task up for
 * long: a disk that falls behind pauses the pipes for at most stallMs, a
 * disk that fails only loses the file's lines.
 */
export class TaskLogWriter {
  private readonly out: fs.WriteStream;
  private readonly sources: Source[] = [];
  private readonly recentLines: Record<LogStream, string[]> = { out: [], err: [] };
  private readonly flushDelayMs: number;
  private readonly bufferMaxBytes: number;
  private readonly stallMs: number;
  private paused = false;
  private stallTimer?: NodeJS.Timeout;
  private dropping = false;
  private dropped = 0;
  private broken = false;
  private ending = false;
  private readonly written: Promise<void>;
  private markWritten!: () => void;

  /** Opens `file` for appending; throws when it cannot be opened. */
  constructor(
    private readonly deps: TaskLogWriterDeps,
    file: string,
    options: TaskLogWriterOptions = {},
  ) {
    this.flushDelayMs = options.flushDelayMs ?? PARTIAL_FLUSH_MS;
    this.bufferMaxBytes = options.bufferMaxBytes ?? LOG_BUFFER_MAX_BYTES;
    this.stallMs = options.stallMs ?? LOG_STALL_MS;
    this.written = new Promise((resolve) => (this.markWritten = resolve));
    // Opened synchronously so a log that cannot be opened fails the task before it spawns.
    this.out = fs.createWriteStream('', { fd: fs.openSync(file, 'a') });
    this.out.on('drain', () => this.onDrain());
    this.out.on('error', (err) => {
      if (!this.broken) this.deps.logger.error({ err, file }, 'writing the task log failed; its lines are no longer kept');
      this.broken = true;
      this.resume();
      this.markWritten();
    });
    this.out.on('close', () => this.markWritten());
  }

  /** Reads one of the task's pipes until it ends. */
  attach(stream: Readable, kind: LogStream): void {
    const src: Source = { stream, kind, splitter: new LineSplitter(), ended: false };
    this.sources.push(src);
    stream.on('data', (chunk: Buffer) => this.onData(src, chunk));
    // 'close' too: a destroyed stream (finish() giving up) never emits 'end'.
    stream.once('end', () => this.onEnd(src));
    stream.once('close', () => this.onEnd(src));
    stream.on('error', () => this.onEnd(src));
  }

  /** The last lines (up to CAUSE_WINDOW_LINES) the task wrote on a stream. */
  recent(kind: LogStream): string[] {
    return [...this.recentLines[kind]];
  }

  /**
   * Resolves once every pipe ended and every record reached the file. After
   * `timeoutMs` it stops waiting for the pipes (a process that escaped the
   * task's group may hold them open) and for the disk.
   */
  async finish(timeoutMs: number): Promise<void> {
    if (this.sources.length === 0) this.maybeEnd();
    const timedOut = await raceTimeout(this.written, timeoutMs);
    if (!timedOut) return;
    for (const src of this.sources) src.stream.destroy();
    this.maybeEnd();
    if (await raceTimeout(this.written, timeoutMs)) {
      this.deps.logger.warn('task log not flushed in time');
      this.out.destroy();
    }
  }

  private onData(src: Source, chunk: Buffer): void {
    for (const piece of src.splitter.push(chunk)) this.record(src.kind, piece);
    if (src.splitter.holding && !src.timer) {
      src.timer = setTimeout(() => {
        src.timer = undefined;
        const piece = src.splitter.flush(false);
        if (piece) this.record(src.kind, piece);
      }, this.flushDelayMs);
    } else if (!src.splitter.holding && src.timer) {
      clearTimeout(src.timer);
      src.timer = undefined;
    }
  }

  private onEnd(src: Source): void {
    if (src.ended) return;
    src.ended = true;
    if (src.timer) clearTimeout(src.timer);
    const piece = src.splitter.flush(true);
    if (piece) this.record(src.kind, piece);
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.ending || !this.sources.every((s) => s.ended)) return;
    this.ending = true;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    if (this.dropped > 0) this.writeDropNote();
    this.out.end();
  }

  private record(kind: LogStream, piece: LinePiece): void {
    const recent = this.recentLines[kind];
    recent.push(piece.text);
    if (recent.length > CAUSE_WINDOW_LINES) recent.shift();
    if (this.broken || this.ending) return;
    if (this.dropping) {
      this.dropped++;
      return;
    }
    this.out.write(formatRecord({ t: formatTimestampNs(this.deps.nowNs()), s: kind, l: piece.text, p: piece.partial }));
    if (this.out.writableLength > this.bufferMaxBytes && !this.paused) this.pause();
  }

  private pause(): void {
    this.paused = true;
    for (const s of this.sources) s.stream.pause();
    this.stallTimer = setTimeout(() => {
      this.deps.logger.warn({ stallMs: this.stallMs }, 'task log writes too slow; dropping lines until they catch up');
      this.dropping = true;
      this.resume();
    }, this.stallMs);
  }

  private resume(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (!this.paused) return;
    this.paused = false;
    for (const s of this.sources) if (!s.ended) s.stream.resume();
  }

  private onDrain(): void {
    if (this.dropping) {
      this.dropping = false;
      this.writeDropNote();
    }
    this.resume();
  }

  private writeDropNote(): void {
    const l = `[shoal: ${this.dropped} log line${this.dropped === 1 ? '' : 's'} dropped: the log file was not written fast enough]`;
    this.dropped = 0;
    if (!this.broken) this.out.write(formatRecord({ t: formatTimestampNs(this.deps.nowNs()), s: 'err', l }));
  }
}

/** Waits for `p` at most `ms`; resolves true when the time ran out first. */
async function raceTimeout(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), ms);
  });
  try {
    return await Promise.race([p.then(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
