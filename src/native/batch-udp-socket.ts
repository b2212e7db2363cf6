import type { NativeAddon } from './native';
import { NativeUdpSocket } from './native-udp-socket';
import { DgramUdpSocket } from './dgram-udp-socket';
import type { BatchUdpSocket, BatchUdpSocketHandlers, UdpFamily } from './batch-udp-types';

export type { BatchUdpSocket, BatchUdpSocketHandlers, DatagramBatch, UdpFamily } from './batch-udp-types';

/** A batch socket for `family`: native when the addon is given and the family is IPv4, else dgram. */
export function createBatchUdpSocket(
  family: UdpFamily,
  handlers: BatchUdpSocketHandlers,
  native: NativeAddon | null,
): BatchUdpSocket {
  if (native && family === 'udp4') return new NativeUdpSocket(native, handlers);
  return new DgramUdpSocket(family, handlers);
}
