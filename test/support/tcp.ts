/** TCP plumbing the fixtures share: listen on an ephemeral port, close a server with its sockets, connect within the wait. */
import * as net from 'node:net';
import { within } from './eventually';

/** Listen on `address` at a port the kernel picks; resolves with the port. */
export async function listenEphemeral(server: net.Server, address: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port: 0 }, resolve);
  });
  return (server.address() as net.AddressInfo).port;
}

/** A close() for a server that destroys its open sockets first; calling it again returns the same promise. */
export function serverCloser(server: net.Server, sockets: Iterable<net.Socket>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }));
}

/** Wait (within the toolkit's timeout) for `socket` to connect; rejects with its error. */
export function connected(socket: net.Socket, what: string): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    what,
  );
}
