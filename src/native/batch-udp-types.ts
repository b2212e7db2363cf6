/** The batch UDP socket's interface, which the native and the dgram implementation both fill in. */
import type { UdpAddress } from './udp-address';

/**
 * Datagrams received in one go. Valid only during the onBatch call that hands
 * it over: the native socket reuses its bytes for the next batch, so keep a
 * copy (Buffer.from) of anything needed later.
 */
export interface DatagramBatch {
  readonly count: number;
  /** Bytes of the batch; datagram i is data[offset(i), offset(i) + length(i)). */
  readonly data: Buffer;
  offset(i: number): number;
  length(i: number): number;
  /** Sender of datagram i; pass it back to send() unchanged to answer it. */
  address(i: number): UdpAddress;
  port(i: number): number;
}

/** What a batch socket reports to its owner. */
export interface BatchUdpSocketHandlers {
  /** Called once per batch of received datagrams. */
  onBatch(batch: DatagramBatch): void;
  /**
   * Errors after bind: a failed connect, a refused or failed send, and on a
   * connected socket the peer's ICMP errors (ECONNREFUSED: port unreachable).
   * `syscall` says which: `connect`, `send`, `recvmsg`...
   */
  onError(err: NodeJS.ErrnoException): void;
}

/** UDP socket families. */
export type UdpFamily = 'udp4' | 'udp6';

/**
 * A UDP socket that receives in batches and may send in batches: the native
 * addon (recvmmsg/sendmmsg, IPv4) or Node's dgram (one datagram per call).
 * Sends are flushed by the socket itself (after the current batch callback
 * or later in the same loop iteration), so callers never have to flush.
 */
export interface BatchUdpSocket {
  /** Which implementation this is, for logs and tests. */
  readonly kind: 'native' | 'dgram';
  /** Bind (exclusively); port 0 lets the kernel pick. Resolves with the bound port, rejects with the bind error (`code` EADDRINUSE...). */
  bind(address: string, port: number): Promise<number>;
  /**
   * Fix the peer (an IP literal). Sends without a port go to it; datagrams
   * sent before the connect completes are held, up to a bound. A failure
   * goes to onError.
   */
  connect(address: string, port: number): void;
  /**
   * Send data[offset, offset+length) to port:address, or to the connected
   * peer when port is left out. The native socket copies the bytes; dgram
   * keeps a reference until the kernel has them, so do not change them.
   */
  send(data: Buffer, offset: number, length: number, port?: number, address?: UdpAddress): void;
  /** Push queued datagrams to the kernel now. */
  flush(): void;
  /** Unbind; queued datagrams are sent first (native). Safe twice and inside callbacks. */
  close(): void;
}
