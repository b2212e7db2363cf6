/**
 * What a client has sent on a TCP connection so far, kept while no byte has
 * come back from the backend, so the mesh can send it again to another backend
 * when the first one dies before answering. Bounded: once the client has sent
 * more than `limitBytes` the buffer lets go of everything and says so, and the
 * connection can no longer be replayed.
 */
export class ReplayBuffer {
  private held: Buffer[] = [];
  private bytes = 0;
  private overflowed = false;
  private finished = false;

  constructor(private readonly limitBytes: number) {}

  /** Keep `chunk`; false (and nothing held any more) once the total passes the limit. */
  add(chunk: Buffer): boolean {
    if (this.overflowed) return false;
    this.bytes += chunk.length;
    if (this.bytes > this.limitBytes) {
      this.overflowed = true;
      this.held = [];
      return false;
    }
    this.held.push(chunk);
    return true;
  }

  /** Whether `bytes` more could be added without passing the limit. */
  fits(bytes: number): boolean {
    return !this.overflowed && this.bytes + bytes <= this.limitBytes;
  }

  /** The client half-closed: a replay ends with a FIN too. */
  end(): void {
    this.finished = true;
  }

  /** Whether everything the client sent is still held, so a replay is possible. */
  get replayable(): boolean {
    return !this.overflowed;
  }

  /** Bytes the client sent so far, in order; empty after an overflow. */
  get chunks(): readonly Buffer[] {
    return this.held;
  }

  /** Whether the client has half-closed. */
  get ended(): boolean {
    return this.finished;
  }

  /** Bytes counted so far, held or not. */
  get size(): number {
    return this.bytes;
  }
}
