import t from 'tap';
import net from 'node:net';
import { waitForTcpPorts } from '../../../src/agent/executor/port-readiness';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

t.test('ready only once the port accepts connections', async (t) => {
  const port = await freePort();
  const server = net.createServer((c) => c.destroy());
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  let listening = false;
  setTimeout(() => server.listen(port, '127.0.0.1', () => (listening = true)), 200);
  const r = await waitForTcpPorts('127.0.0.1', [port], { gone: () => false, timeoutMs: 10_000, pollMs: 10 });
  t.equal(r, 'ready');
  t.ok(listening, 'the server was listening when readiness was reported');
});

t.test('no ports: ready at once; a port that never opens: timeout; a task that exits: gone', async (t) => {
  t.equal(await waitForTcpPorts('127.0.0.1', [], { gone: () => false }), 'ready');
  const port = await freePort();
  t.equal(await waitForTcpPorts('127.0.0.1', [port], { gone: () => false, timeoutMs: 100, pollMs: 10 }), 'timeout');
  let gone = false;
  setTimeout(() => (gone = true), 50);
  t.equal(await waitForTcpPorts('127.0.0.1', [port], { gone: () => gone, timeoutMs: 10_000, pollMs: 10 }), 'gone');
});
