import * as net from 'node:net';
import { PortInUseError } from '../../errors';
import type { BatchUdpSocket } from '../../native/batch-udp-socket';

/** How often port 0 is retried when the port the kernel gave UDP is taken for TCP. */
const SHARED_PORT_ATTEMPTS = 20;

/**
 * Binds UDP then TCP on the same port; with port 0, retries until the
 * kernel's UDP pick is free for TCP too. `makeUdp` gives a fresh socket per attempt.
 */
export async function bindShared(
  address: string,
  port: number,
  makeUdp: () => BatchUdpSocket,
): Promise<{ udp: BatchUdpSocket; tcp: net.Server; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const udp = makeUdp();
    let bound: number;
    try {
      bound = await udp.bind(address, port);
    } catch (err) {
      udp.close();
      throw translateBindError(err, address, port, 'udp');
    }
    try {
      const tcp = await listenTcp(address, bound);
      return { udp, tcp, port: bound };
    } catch (err) {
      udp.close();
      const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (port !== 0 || !inUse || attempt >= SHARED_PORT_ATTEMPTS) throw translateBindError(err, address, bound, 'tcp');
    }
  }
}

function listenTcp(address: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: a client's FIN ends its queries, not our answers to them.
    const server = net.createServer({ allowHalfOpen: true });
    server.once('error', reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}

function translateBindError(err: unknown, address: string, port: number, proto: string): unknown {
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return new PortInUseError(`DNS port ${address}:${port}/${proto} is already in use`);
  }
  return err;
}
