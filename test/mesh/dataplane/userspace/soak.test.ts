/**
 * The userspace dataplane under bad traffic: 100,000 random datagrams through
 * a UDP frontend to an echo backend, and thousands of TCP connections that
 * reset, stall or get reset at random points. Afterwards every gauge, every
 * handle and the memory must be back where they started.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { UserspaceDataplane } from '../../../../src/mesh/dataplane/userspace/userspace-dataplane';
import { activeHandles, retainedBytes } from '../../leak-probe';
import { eventually, within } from '../../../support/eventually';
import { freePort } from '../../../support/free-port';
import { asBackend, frontendOf } from '../fixtures/backends';
import { bulkBackend } from '../fixtures/bulk';
import { udpClient } from '../fixtures/clients';

const ADDR = '127.0.0.1';
/** Random datagrams sent in all, from this many client sockets (one flow each). */
const DATAGRAMS = 100_000;
const UDP_CLIENTS = 16;
/** Clients sending their bursts at the same time. */
const UDP_SENDERS_AT_ONCE = 4;
/** Datagrams a client sends back to back before its probe: small enough for the socket buffers on the way, mostly. */
const BURST = 50;
/** Largest random datagram; a few of the largest UDP allows go too. */
const MAX_DATAGRAM = 1400;
const MAX_UDP_PAYLOAD = 65_507;
/** TCP connections in all, and how many are open at once. */
const TCP_CONNECTIONS = 2000;
const TCP_CONCURRENCY = 32;
/** What a client sends to a stalled backend before it gives up: more than the backend's receive buffer holds. */
const STALL_UPLOAD_BYTES = 512 * 1024;
/** Traffic sent before the memory baseline is taken, so that pools and caches are warm. */
const WARM_UP_DATAGRAMS = 10_000;
const WARM_UP_CONNECTIONS = 200;
/**
 * Memory growth allowed over the run. Leaking a socket, a closure or a map
 * entry per datagram or connection would cost far more than this.
 */
const MAX_GROWTH_BYTES = 20 * 1024 * 1024;
/** Short UDP idle timeout so the flows expire within the test. */
const UDP_IDLE_TIMEOUT_MS = 300;
/** Sweeps often, so stalled TCP connections are probed quickly. */
const SWEEP_INTERVAL_MS = 50;
/** How long a wait for the gauges and handles to settle may take. */
const SETTLE_MS = 10_000;
/** How long one probe datagram waits for its echo before it is sent again. */
const PROBE_RESEND_MS = 200;

/** Deterministic bytes (a linear congruential generator), so a failing run can be replayed. */
function generator(seed: number): { below(n: number): number; bytes(n: number): Buffer } {
  let state = seed;
  const byte = (): number => ((state = (state * 1103515245 + 12345) & 0x7fffffff) >> 16) & 0xff;
  const below = (n: number): number => ((byte() << 16) | (byte() << 8) | byte()) % n;
  const bytes = (n: number): Buffer => {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = byte();
    return out;
  };
  return { below, bytes };
}
const rng = generator(777);
/** Random bytes datagrams are cut from: generating each one afresh would cost more than relaying it. */
const POOL = rng.bytes(MAX_UDP_PAYLOAD + MAX_DATAGRAM);

/** A UDP backend that sends every datagram back as it came. */
async function udpEcho(t: tap.Test): Promise<{ port: number; received: () => number }> {
  const socket = dgram.createSocket('udp4');
  let received = 0;
  socket.on('message', (msg, rinfo) => {
    received++;
    socket.send(msg, rinfo.port, rinfo.address);
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind({ address: ADDR, port: 0 }, resolve));
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, received: () => received };
}

/** Sum of a metric's series matching `labels`. */
async function metricSum(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await registry.getSingleMetric(name)!.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Client sockets still open, destroyed at teardown should the test fail half-way. */
const openClients = new Set<net.Socket>();

/** One TCP client that misbehaves in way `kind`; resolves once its connection is closed. */
async function badTcpClient(port: number, kind: number): Promise<void> {
  const socket = net.connect({ host: ADDR, port });
  openClients.add(socket);
  socket.once('close', () => openClients.delete(socket));
  socket.on('error', () => undefined);
  let received = 0;
  const waiters: (() => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const ended = new Promise<void>((resolve) => {
    socket.once('end', resolve);
    socket.once('close', resolve);
  });
  const receivedAtLeast = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => (received >= n || socket.destroyed ? resolve() : void waiters.push(check));
      check();
      void ended.then(resolve);
    });
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });
  if (socket.destroyed) return;
  switch (kind) {
    case 0:
      // Gone before a byte: the session may still be connecting to its backend.
      socket.resetAndDestroy();
      break;
    case 1:
      socket.write('downl');
      socket.resetAndDestroy();
      break;
    case 2:
      socket.write('ping\n');
      await receivedAtLeast(5);
      socket.resetAndDestroy();
      break;
    case 3:
      socket.write('download\n');
      await receivedAtLeast(1 + rng.below(256 * 1024));
      socket.resetAndDestroy();
      break;
    case 4:
      socket.write('upload\n');
      await receivedAtLeast(3);
      socket.write(rng.bytes(rng.below(128 * 1024)));
      socket.resetAndDestroy();
      break;
    case 5:
      // The backend is killed mid-answer: the client must be reset, and nothing left behind.
      socket.write(`reset-after ${rng.below(512 * 1024)}\n`);
      break;
    case 6:
      // A backend stuck in its work and a client that gives up on it.
      socket.write('stall\n');
      await receivedAtLeast(3);
      socket.write(Buffer.alloc(STALL_UPLOAD_BYTES));
      socket.resetAndDestroy();
      break;
    default:
      // A well-behaved one now and then: ping, FIN, read to the end.
      socket.end('ping\n');
      break;
  }
  await closed;
}

t.test('100,000 random datagrams and thousands of broken TCP connections: nothing leaked', async (t) => {
  const registry = new Registry();
  const dp = new UserspaceDataplane(
    { logger: pino({ level: 'silent' }), registry },
    { udpIdleTimeoutMs: UDP_IDLE_TIMEOUT_MS, udpSweepIntervalMs: SWEEP_INTERVAL_MS, idleSweepIntervalMs: SWEEP_INTERVAL_MS },
  );
  t.teardown(() => dp.close());
  let stopping = false;
  t.teardown(() => {
    stopping = true;
    for (const socket of openClients) socket.destroy();
  });
  const echo = await udpEcho(t);
  const [a, b] = await Promise.all([bulkBackend(t, 'a'), bulkBackend(t, 'b')]);
  const udpPort = await freePort('udp');
  const tcpPort = await freePort('tcp');
  const applied = await dp.apply({
    frontends: [
      frontendOf('udp', ADDR, udpPort, [{ id: 'echo', address: ADDR, port: echo.port, weight: 1 }]),
      frontendOf('tcp', ADDR, tcpPort, [asBackend(a), asBackend(b)]),
    ],
  });
  t.same(applied.failed, []);
  const handlesBefore = activeHandles();

  const clients = await Promise.all(
    Array.from({ length: UDP_CLIENTS }, async () => {
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind({ address: ADDR, port: 0 }, resolve));
      socket.on('error', () => undefined);
      return socket;
    }),
  );
  t.teardown(() => {
    for (const socket of clients) socket.close(() => undefined);
  });
  let echoed = 0;
  const probeWaiters = new Map<string, () => void>();
  for (const socket of clients) {
    socket.on('message', (msg) => {
      echoed++;
      if (msg.length > 0 && msg.length < 40) probeWaiters.get(msg.toString('latin1'))?.();
    });
  }

  let sent = 0;
  let probes = 0;
  /** A burst of random datagrams from one client, then a probe it waits to see echoed: the flow has caught up. */
  const burst = async (socket: dgram.Socket): Promise<void> => {
    for (let i = 0; i < BURST; i++) {
      const size = rng.below(1000) === 0 ? MAX_UDP_PAYLOAD : rng.below(MAX_DATAGRAM + 1);
      const from = rng.below(POOL.length - size + 1);
      socket.send(POOL.subarray(from, from + size), udpPort, ADDR);
    }
    sent += BURST;
    const marker = `probe-${++probes}`;
    await within(
      new Promise<void>((resolve) => {
        const resend = setInterval(() => socket.send(marker, udpPort, ADDR), PROBE_RESEND_MS);
        probeWaiters.set(marker, () => {
          clearInterval(resend);
          probeWaiters.delete(marker);
          resolve();
        });
        socket.send(marker, udpPort, ADDR);
      }),
      `the echo of ${marker}`,
    );
  };
  /** `total` datagrams, from UDP_SENDERS_AT_ONCE clients at a time, each waiting for its own probe. */
  const sendDatagrams = async (total: number): Promise<void> => {
    const target = sent + total;
    const sender = async (first: number): Promise<void> => {
      for (let next = first; sent < target && !stopping; next += UDP_SENDERS_AT_ONCE) await burst(clients[next % clients.length]);
    };
    await Promise.all(Array.from({ length: UDP_SENDERS_AT_ONCE }, (_, i) => sender(i)));
  };

  let started = 0;
  const runConnections = async (total: number): Promise<void> => {
    const target = started + total;
    const worker = async (): Promise<void> => {
      while (started < target && !stopping) {
        const kind = started++ % 8;
        await within(badTcpClient(tcpPort, kind), `a bad TCP client of kind ${kind} to finish`, SETTLE_MS);
      }
    };
    await Promise.all(Array.from({ length: TCP_CONCURRENCY }, worker));
  };

  /** Both kinds of traffic at once; the first failure stops the other, so the test ends either way. */
  const traffic = async (datagrams: number, connections: number): Promise<void> => {
    try {
      await Promise.all([sendDatagrams(datagrams), runConnections(connections)]);
    } catch (err) {
      stopping = true;
      throw err;
    }
  };
  await traffic(WARM_UP_DATAGRAMS, WARM_UP_CONNECTIONS);
  const baseline = retainedBytes();
  await traffic(DATAGRAMS - WARM_UP_DATAGRAMS, TCP_CONNECTIONS - WARM_UP_CONNECTIONS);
  t.comment(`${sent} datagrams and ${probes} probes sent, ${echo.received()} reached the backend, ${echoed} came back`);
  t.ok(echo.received() >= sent * 0.9, 'the datagrams went through');

  const still = await udpClient(t, { address: ADDR, port: udpPort });
  t.equal(await still.requestUntilAnswered('still-there'), 'still-there', 'the UDP frontend still relays');
  const probe = net.connect({ host: ADDR, port: tcpPort });
  probe.on('error', () => undefined);
  probe.write('ping\n');
  const pong = await within(new Promise<string>((resolve) => probe.once('data', (d: Buffer) => resolve(d.toString()))), 'a pong');
  probe.destroy();
  t.equal(pong, 'pong\n', 'the TCP frontend still serves');

  await Promise.all(clients.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
  clients.length = 0;
  // The stuck backend wakes up: only now can it see that its clients went away.
  for (const socket of [...a.sockets, ...b.sockets]) socket.resume();
  const settled = async (): Promise<boolean> => {
    const held = dp.frontends().reduce((sum, f) => sum + f.active, 0);
    const gauges =
      (await metricSum(registry, 'shoal_mesh_active_connections')) + (await metricSum(registry, 'shoal_mesh_backend_active_connections'));
    return held === 0 && gauges === 0 && a.open === 0 && b.open === 0;
  };
  const ok = await eventually(settled, 'every connection and flow to be gone', SETTLE_MS).then(
    () => true,
    () => false,
  );
  t.ok(ok, 'no connection or flow left in the frontends, the gauges or the backends');
  t.same(
    {
      frontends: dp.frontends().map((f) => f.active),
      active: await metricSum(registry, 'shoal_mesh_active_connections'),
      backendActive: await metricSum(registry, 'shoal_mesh_backend_active_connections'),
      backendsOpen: a.open + b.open,
    },
    { frontends: [0, 0], active: 0, backendActive: 0, backendsOpen: 0 },
    'every count back to 0',
  );

  const handlesBack = await eventually(() => activeHandles() <= handlesBefore + 1, 'handles to close', SETTLE_MS).then(
    () => true,
    () => false,
  );
  // +1: the udpClient above stays open until teardown.
  t.ok(handlesBack, `handles back to ${handlesBefore} (now ${activeHandles()}, one of them the last UDP client)`);
  const growth = retainedBytes() - baseline;
  t.ok(growth < MAX_GROWTH_BYTES, `memory grew by ${(growth / 1048576).toFixed(1)} MB, under ${MAX_GROWTH_BYTES / 1048576} MB`);
});
