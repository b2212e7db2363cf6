/**
 * "A closed UDP socket got nothing more", shown without watching it for a
 * while: a marker through the port it held.
 */
import * as dgram from 'node:dgram';
import type {} from 'tap';
import { eventually, within } from './eventually';

/**
 * Bind a fresh socket on the port a just-closed socket held, send it a
 * marker from `from`, and resolve once the marker is in. The bind succeeds
 * only once the old descriptor is closed, so from then on the kernel queues
 * nothing for the old socket; and the marker comes in through the event
 * loop's poll phase, where a late callback of the old socket would also have
 * run. So once the marker is in, whatever the old socket was going to
 * deliver has been delivered. Rejects if the port is still held.
 */
export async function markerThroughPort(t: tap.Test, from: dgram.Socket, address: string, port: number): Promise<void> {
  const successor = dgram.createSocket('udp4');
  t.teardown(() => new Promise<void>((resolve) => successor.close(() => resolve())));
  let marked = false;
  successor.on('message', (msg) => (marked ||= msg.toString() === 'marker'));
  await within(
    new Promise<void>((resolve, reject) => {
      successor.once('error', reject);
      successor.bind({ address, port, exclusive: true }, resolve);
    }),
    `a new socket to take port ${port} over`,
  );
  from.send('marker', port, address);
  await eventually(() => marked, `the marker through port ${port}`);
}
