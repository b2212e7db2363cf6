import { endianness } from 'node:os';
import type { MessageInfo, RawNetlinkSocket } from 'netlink';
import { NetlinkMalformedError, UnavailableError, UnsupportedPlatformError } from '../../errors';
import { decodeNetlinkMessages, encodeGenlRequest, NETLINK_GENERIC } from './genl-message';
import type { GenlMessage, GenlRequest } from './genl-message';
import type { GenlTransport } from './genl-transport';
import { ReplyAssembler } from './reply-assembler';

/** Tuning of a generic netlink socket. */
export interface GenlSocketOptions {
  /** How long a request may wait for its last answer before it fails. */
  requestTimeoutMs?: number;
}

/** Default request timeout: the kernel answers in microseconds; this only bounds a lost answer. */
export const DEFAULT_GENL_REQUEST_TIMEOUT_MS = 5_000;

interface Pending {
  assembler: ReplyAssembler;
  resolve: (replies: GenlMessage[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A real NETLINK_GENERIC socket: the `netlink` package's RawNetlinkSocket
 * (native socket, message peeking so large dumps arrive whole) with shoal's
 * own framing (genl-message.ts) on top. Requests are matched to answers by
 * sequence number; only messages from the kernel (port 0) are read. The
 * socket keeps the event loop alive only while a request is in flight.
 */
export class GenlSocket implements GenlTransport {
  private readonly socket: RawNetlinkSocket;
  private readonly timeoutMs: number;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private closed = false;

  constructor(options: GenlSocketOptions = {}) {
    // The codec writes host-order fields as little-endian (see netlink-attribute.ts).
    if (endianness() !== 'LE') throw new UnsupportedPlatformError('the generic netlink codec supports little-endian hosts only');
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_GENL_REQUEST_TIMEOUT_MS;
    // Loaded here, not at import: a native addon that cannot load on this host should make
    // opening a socket fail (the probe reports why), not importing the dataplane modules.
    const netlink = require('netlink') as typeof import('netlink');
    this.socket = new netlink.RawNetlinkSocket(NETLINK_GENERIC);
    this.socket.unref();
    this.socket.on('message', (buf: Buffer, rinfo: MessageInfo) => this.receive(buf, rinfo));
    this.socket.on('truncatedMessage', () => this.failAll(new NetlinkMalformedError('netlink answer truncated')));
    this.socket.on('error', (err: Error) => this.failAll(err));
  }

  /** This socket's netlink port id (the kernel addresses its answers to it). */
  get portId(): number {
    return this.socket.address().port;
  }

  request(req: GenlRequest, what = `genl family ${req.family} cmd ${req.cmd}`): Promise<GenlMessage[]> {
    if (this.closed) return Promise.reject(new UnavailableError(`${what}: netlink socket is closed`));
    const seq = this.nextSeq();
    return new Promise<GenlMessage[]>((resolve, reject) => {
      const timer = setTimeout(
        () => this.finish(seq, new UnavailableError(`${what}: no answer from the kernel within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      if (this.pending.size === 0) this.socket.ref();
      this.pending.set(seq, { assembler: new ReplyAssembler(what, req.kind), resolve, reject, timer });
      this.socket.send(encodeGenlRequest(req, seq, this.portId), { port: 0 }, (err) => {
        if (err) this.finish(seq, err);
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new UnavailableError('netlink socket closed'));
    this.socket.close();
  }

  private nextSeq(): number {
    // Skip 0 and any seq still waiting (only possible after 2^32 requests).
    do this.seq = (this.seq % 0xffffffff) + 1;
    while (this.pending.has(this.seq));
    return this.seq;
  }

  private receive(buf: Buffer, rinfo: MessageInfo): void {
    if (rinfo.port !== 0) return;
    let messages;
    try {
      messages = decodeNetlinkMessages(buf);
    } catch (err) {
      // Which request a corrupt datagram belonged to is unknown; none can be trusted to complete.
      this.failAll(err as Error);
      return;
    }
    for (const msg of messages) {
      const p = this.pending.get(msg.seq);
      if (!p) continue;
      let step;
      try {
        step = p.assembler.feed(msg);
      } catch (err) {
        this.finish(msg.seq, err as Error);
        continue;
      }
      if (step.state === 'done') this.finish(msg.seq, undefined, step.replies);
      else if (step.state === 'failed') this.finish(msg.seq, step.error);
    }
  }

  private finish(seq: number, err: Error | undefined, replies: GenlMessage[] = []): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    clearTimeout(p.timer);
    if (this.pending.size === 0 && !this.closed) this.socket.unref();
    if (err) p.reject(err);
    else p.resolve(replies);
  }

  private failAll(err: Error): void {
    for (const seq of [...this.pending.keys()]) this.finish(seq, err);
  }
}
