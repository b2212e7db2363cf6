/**
 * Backend tasks for the real-kernel nftables tests, run inside the backends'
 * namespace: `node backend-server.js PORT NAME=ADDRESS...`, one process for
 * all of them. On each ADDRESS:PORT, TCP answers every chunk with `NAME\n`
 * and the client's FIN with `bye <bytes>\n` (as fixtures/backends.ts'
 * tcpBackend, so its clients work), and UDP answers every datagram with
 * `NAME:<payload>:<source address>`, so a test sees the address the backend
 * saw. Prints `ready` once everything is bound; runs until killed.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';

function serve(name: string, address: string, port: number): Promise<void> {
  const tcp = net.createServer({ allowHalfOpen: true }, (socket) => {
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      socket.write(`${name}\n`);
    });
    socket.on('end', () => socket.end(`bye ${received}\n`));
    socket.on('error', () => undefined);
  });
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => udp.send(`${name}:${msg.toString()}:${rinfo.address}`, rinfo.port, rinfo.address));
  return new Promise((resolve) => tcp.listen({ host: address, port }, () => udp.bind({ address, port }, resolve)));
}

const [portText, ...pairs] = process.argv.slice(2);
const port = Number(portText);
// Without arguments it was picked up on its own by a `tap <dir>` run: exit quietly.
if (port > 0 && pairs.length > 0) {
  void Promise.all(pairs.map((p) => serve(p.split('=')[0], p.split('=')[1], port))).then(() => process.stdout.write('ready\n'));
}
