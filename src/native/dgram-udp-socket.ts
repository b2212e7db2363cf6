import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { isIP } from 'node:net';
import type { BatchUdpSocket, BatchUdpSocketHandlers, DatagramBatch, UdpFamily } from './batch-udp-types';
import { udpAddressText, type UdpAddress } from './udp-address';

/** Datagrams held while a connect is under way; more are dropped, as a full queue would. */
export const MAX_PENDING_DATAGRAMS = 64;

/** A batch of the one datagram dgram hands over per 'message' event. */
class SingleDatagram implements DatagramBatch {
  readonly count = 1;
  data: Buffer = Buffer.alloc(0);
  from: string = '';
  fromPort = 0;

  offset(): number {
    return 0;
  }

  length(): number {
    return this.data.length;
  }

  address(): UdpAddress {
    return this.from;
  }

  port(): number {
    return this.fromPort;
  }
}

/** The fallback BatchUdpSocket: Node's dgram, one datagram per receive and per send. */
export class DgramUdpSocket implements BatchUdpSocket {
  readonly kind = 'dgram' as const;
  private readonly socket: dgram.Socket;
  private readonly batch = new SingleDatagram();
  /** Datagrams waiting for the connect; null when not connecting. */
  private pending: Buffer[] | null = null;
  /** Settles a bind under way with its error. */
  private bindFailed: ((err: Error) => void) | null = null;
  private closed = false;
  /** One callback for every send, not a closure per datagram. */
  private readonly onSent: (err: Error | null) => void;

  constructor(family: UdpFamily, private readonly handlers: BatchUdpSocketHandlers) {
    this.socket = dgram.createSocket({ type: family, lookup: literalLookup });
    this.socket.on('message', (msg, rinfo) => {
      const batch = this.batch;
      batch.data = msg;
      batch.from = rinfo.address;
      batch.fromPort = rinfo.port;
      handlers.onBatch(batch);
    });
    this.socket.on('error', (err) => {
      if (this.bindFailed) this.bindFailed(err);
      else handlers.onError(err);
    });
    this.onSent = (err) => {
      if (err) handlers.onError(err);
    };
  }

  bind(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.bindFailed = (err) => {
        this.bindFailed = null;
        reject(err);
      };
      this.socket.bind({ address, port, exclusive: true }, () => {
        this.bindFailed = null;
        resolve(this.socket.address().port);
      });
    });
  }

  connect(address: string, port: number): void {
    this.pending = [];
    // @types/node omits it, but dgram hands a failed connect to this callback.
    this.socket.connect(port, address, (err?: Error) => {
      if (this.closed) return;
      const queued = this.pending ?? [];
      this.pending = null;
      if (err) return this.handlers.onError(err);
      for (const msg of queued) this.socket.send(msg, this.onSent);
    });
  }

  send(data: Buffer, offset: number, length: number, port?: number, address?: UdpAddress): void {
    const whole = offset === 0 && length === data.length;
    if (this.pending) {
      if (this.pending.length < MAX_PENDING_DATAGRAMS) this.pending.push(whole ? data : data.subarray(offset, offset + length));
      return;
    }
    if (port === undefined) {
      if (whole) this.socket.send(data, this.onSent);
      else this.socket.send(data, offset, length, this.onSent);
      return;
    }
    const to = udpAddressText(address ?? '');
    if (whole) this.socket.send(data, port, to, this.onSent);
    else this.socket.send(data, offset, length, port, to, this.onSent);
  }

  flush(): void {
    // dgram hands each datagram to the kernel as it is sent.
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = null;
    try {
      this.socket.close();
    } catch {
      // Already closed by a failed bind.
    }
  }
}

/**
 * dgram resolves the destination of every `send`, and Node's lookup answers
 * even an IP literal on the next tick; peers are IP literals, so answer
 * those at once.
 */
function literalLookup(
  hostname: string,
  options: dns.LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family !== 0) callback(null, hostname, family);
  else dns.lookup(hostname, options, callback);
}
