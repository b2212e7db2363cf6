import { MAX_LINE_BYTES } from './log-record';

/** A line cut out of a stream; `partial` when the line goes on in the next piece. */
export interface LinePiece {
  text: string;
  partial: boolean;
}

const NEWLINE = 0x0a;

/**
 * Cuts one output stream into lines as bytes arrive: whole lines come out at
 * once, a line longer than `maxBytes` comes out in pieces of at most that
 * size (cut between UTF-8 characters), and the bytes after the last newline
 * wait for more input or for flush().
 */
export class LineSplitter {
  private held: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes = MAX_LINE_BYTES) {}

  /** Whether bytes without a newline are waiting. */
  get holding(): boolean {
    return this.held.length > 0;
  }

  /** Feeds a chunk; returns the pieces it completes, in order. */
  push(chunk: Buffer): LinePiece[] {
    const buf = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const out: LinePiece[] = [];
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE, start); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
      this.cut(buf.subarray(start, nl), out, true);
      start = nl + 1;
    }
    this.held = Buffer.from(this.cut(buf.subarray(start), out, false));
    return out;
  }

  /**
   * The waiting bytes as a piece: `partial` when the stream goes on (a flush
   * after the delay), not when it ended (the process exited mid-line).
   */
  flush(streamEnded: boolean): LinePiece | undefined {
    if (this.held.length === 0) return undefined;
    const text = this.held.toString('utf8');
    this.held = Buffer.alloc(0);
    return { text, partial: !streamEnded };
  }

  /** Emits `line` in pieces of at most maxBytes; a complete line emits all of it, else returns the rest to hold. */
  private cut(line: Buffer, out: LinePiece[], complete: boolean): Buffer {
    let rest = line;
    while (rest.length > this.maxBytes || (!complete && rest.length === this.maxBytes)) {
      const at = charBoundary(rest, this.maxBytes);
      out.push({ text: rest.subarray(0, at).toString('utf8'), partial: true });
      rest = rest.subarray(at);
    }
    if (!complete) return rest;
    out.push({ text: rest.toString('utf8'), partial: false });
    return Buffer.alloc(0);
  }
}

/** The largest cut at or below `max` that does not split a UTF-8 character. */
function charBoundary(buf: Buffer, max: number): number {
  let at = max;
  // Continuation bytes are 10xxxxxx; a character is at most 4 bytes.
  while (at > max - 4 && at > 0 && (buf[at] & 0xc0) === 0x80) at--;
  return at > 0 && (buf[at] & 0xc0) !== 0x80 ? at : max;
}
