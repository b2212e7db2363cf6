import { InvalidArgumentError } from '../errors';
import type { BatchUdpSocket, BatchUdpSocketHandlers, DatagramBatch } from './batch-udp-types';
import type { NativeAddon, NativeUdpSocketHandle, NativeUdpSocketStats } from './native';
import { ipv4ToNumber, type UdpAddress } from './udp-address';

/** The addon's current batch, read in place from its arena and metadata array: no object per datagram. */
class ArenaBatch implements DatagramBatch {
  count = 0;
  readonly data: Buffer;
  private readonly meta: Uint32Array;
  private readonly slotBytes: number;
  private readonly fields: number;

  constructor(addon: NativeAddon) {
    this.data = addon.arena;
    this.meta = addon.meta;
    this.slotBytes = addon.slotBytes;
    this.fields = addon.metaFields;
  }

  offset(i: number): number {
    return i * this.slotBytes;
  }

  length(i: number): number {
    return this.meta[i * this.fields];
  }

  address(i: number): UdpAddress {
    return this.meta[i * this.fields + 1];
  }

  port(i: number): number {
    return this.meta[i * this.fields + 2];
  }
}

/** One batch view per addon: every socket of the process reads the same arena, one callback at a time. */
const batches = new WeakMap<NativeAddon, ArenaBatch>();

/** A BatchUdpSocket on the addon: IPv4, recvmmsg into a shared arena, sendmmsg of copied datagrams. */
export class NativeUdpSocket implements BatchUdpSocket {
  readonly kind = 'native' as const;
  private readonly handle: NativeUdpSocketHandle;
  private closed = false;
  /** The connect failed: sends are dropped until close, as dgram drops them. */
  private unconnectable = false;

  constructor(addon: NativeAddon, private readonly handlers: BatchUdpSocketHandlers) {
    let batch = batches.get(addon);
    if (!batch) batches.set(addon, (batch = new ArenaBatch(addon)));
    const view = batch;
    this.handle = new addon.UdpSocket(
      (count) => {
        view.count = count;
        handlers.onBatch(view);
      },
      (err) => handlers.onError(err),
    );
  }

  bind(address: string, port: number): Promise<number> {
    try {
      return Promise.resolve(this.handle.bind(address, port));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  connect(address: string, port: number): void {
    try {
      this.handle.connect(address, port);
    } catch (err) {
      this.unconnectable = true;
      // Reported later, as dgram's connect callback would: the caller is still setting up.
      process.nextTick(() => {
        if (!this.closed) this.handlers.onError(err as NodeJS.ErrnoException);
      });
    }
  }

  send(data: Buffer, offset: number, length: number, port = 0, address: UdpAddress = 0): void {
    if (this.unconnectable) return;
    const numeric = typeof address === 'number' ? address : ipv4ToNumber(address);
    if (numeric === null) throw new InvalidArgumentError(`native UDP socket sends to IPv4 literals only, not "${String(address)}"`);
    this.handle.send(data, offset, length, port, numeric);
  }

  flush(): void {
    this.handle.flush();
  }

  /** Syscalls made and datagrams moved so far. */
  stats(): NativeUdpSocketStats {
    return this.handle.stats();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }
}
