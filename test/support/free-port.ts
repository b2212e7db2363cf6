/** A port that was free a moment ago: for tests that need a port number before they bind it. */
import * as dgram from 'node:dgram';
import * as net from 'node:net';

/** A port that was free a moment ago on `address` (bind port 0, read it, close). */
export async function freePort(protocol: 'tcp' | 'udp', address = '127.0.0.1'): Promise<number> {
  if (protocol === 'tcp') {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port: 0 }, resolve);
    });
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port: 0 }, resolve);
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}
