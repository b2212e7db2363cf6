import type * as net from 'node:net';
import type { AnsweredBy } from './query-metrics';
import type { Handled } from './query-handler';
import { MAX_TCP_QUERY_BYTES } from './wire';

/** What serving one TCP client needs from the server. */
export interface TcpClientDeps {
  /** Answers one query (the message without its length prefix). */
  handle(msg: Buffer): Handled;
  /** The client sent a frame longer than any query: it is dropped, and this counts it. */
  dropped(): void;
  /** Monotonic milliseconds, read when a query is taken off the stream. */
  now(): number;
  /** A response went out for a query read at `started`. */
  answered(answeredBy: AnsweredBy, started: number): void;
}

/**
 * Reads length-prefixed queries from one TCP client and writes each
 * response, framed, as it is ready (RFC 7766 §6.2.1.1: clients may pipeline).
 * A client that half-closes gets the answers to what it sent, then our FIN.
 */
export function serveTcpClient(socket: net.Socket, deps: TcpClientDeps): void {
  let buffered = Buffer.alloc(0);
  /** Queries read whose answer is not written yet (forwards in flight). */
  let unanswered = 0;
  let clientEnded = false;
  const hasFrame = (): boolean => buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0);
  // The client half-closed: answer what it sent, then close our side.
  const endIfDone = (): void => {
    if (clientEnded && unanswered === 0 && !hasFrame() && !socket.destroyed) socket.end();
  };
  const answered = (): void => {
    unanswered--;
    endIfDone();
  };
  // A client that does not read its answers is not read either: they wait in its socket, not in our heap.
  const pump = (): void => {
    while (buffered.length >= 2 && !socket.writableNeedDrain) {
      const length = buffered.readUInt16BE(0);
      if (length > MAX_TCP_QUERY_BYTES) {
        deps.dropped();
        socket.destroy();
        return;
      }
      if (buffered.length < 2 + length) break;
      const msg = buffered.subarray(2, 2 + length);
      buffered = buffered.subarray(2 + length);
      unanswered++;
      answerMessage(socket, msg, deps, answered);
    }
    if (socket.writableNeedDrain) socket.pause();
    else socket.resume();
    endIfDone();
  };
  socket.on('data', (chunk) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    pump();
  });
  socket.on('drain', pump);
  socket.on('end', () => {
    clientEnded = true;
    endIfDone();
  });
}

function answerMessage(socket: net.Socket, msg: Buffer, deps: TcpClientDeps, answered: () => void): void {
  const started = deps.now();
  const out = deps.handle(msg);
  const send = (response: Buffer | null, answeredBy: AnsweredBy): void => {
    if (response && !socket.destroyed && !socket.writableEnded) {
      const frame = Buffer.allocUnsafe(2 + response.length);
      frame.writeUInt16BE(response.length, 0);
      response.copy(frame, 2);
      socket.write(frame);
      deps.answered(answeredBy, started);
    }
    answered();
  };
  if (out instanceof Promise) void out.then((r) => send(r, 'upstream'));
  else send(out, 'local');
}
