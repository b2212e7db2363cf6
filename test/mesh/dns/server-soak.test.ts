/**
 * 100,000 bad UDP packets of every kind and a few hundred bad TCP connections
 * against one DNS server: it must keep answering a real dig, and once the bad
 * clients are gone it must hold no more handles and no more memory than before.
 */
import t from 'tap';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import { activeHandles, retainedBytes } from '../leak-probe';
import { eventually, within } from '../../support/eventually';
import { dig, type DigResult, fakeUpstream, query, startServer, tcpFrame, web } from './dns-fixtures';

/** Bad UDP packets sent in all. */
const UDP_PACKETS = 100_000;
/** Packets sent back to back before waiting for the server to catch up: small enough for the server's receive buffer. */
const BURST = 100;
/** Sockets the bad packets come from, in turn. */
const SENDERS = 4;
/** Bad TCP connections in all, and how many are open at once. */
const TCP_CONNECTIONS = 300;
const TCP_CONCURRENCY = 20;
/** Packets sent before the memory baseline is taken, so that caches and pools are warm. */
const WARM_UP_PACKETS = 10_000;
/**
 * Memory growth allowed over the run. Leaking a closure, a Buffer or a map
 * entry per packet would cost well over 200 bytes each, 20 MB over 100,000.
 */
const MAX_GROWTH_BYTES = 20 * 1024 * 1024;
/** The idle timeout of the server under test, so connections left open by bad clients end within the test. */
const TCP_IDLE_TIMEOUT_MS = 1000;
/** ID of the good query that closes each burst; bad packets never use it. */
const PROBE_ID = 0xfeed;

/** Deterministic bytes (a linear congruential generator), so a failing run can be replayed. */
function generator(seed: number): { byte(): number; below(n: number): number; bytes(n: number): Buffer } {
  let state = seed;
  const byte = (): number => ((state = (state * 1103515245 + 12345) & 0x7fffffff) >> 16) & 0xff;
  const below = (n: number): number => ((byte() << 8) | byte()) % n;
  const bytes = (n: number): Buffer => {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = byte();
    return out;
  };
  return { byte, below, bytes };
}

const rng = generator(4242);
const HEADER = [0x0a, 0xbc, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
const A_IN = [0x00, 0x01, 0x00, 0x01];
const fiftyQuestions = dnsPacket.encode({
  type: 'query',
  id: 0x0abc,
  questions: Array.from({ length: 50 }, (_, i) => ({ type: 'A' as const, name: `svc${i}` })),
});
const pointerLoops = [
  Buffer.from([...HEADER, 0xc0, 12, ...A_IN]),
  Buffer.from([...HEADER, 0xc0, 14, 0xc0, 12, ...A_IN]),
  Buffer.from([...HEADER, 0x01, 0x61, 0xc0, 12, ...A_IN]),
  Buffer.from([...HEADER, 0xc0, 0xff, ...A_IN]),
];
const ednsQuery = (id: number, name: string, options: Buffer): Buffer =>
  dnsPacket.encode({
    type: 'query',
    id,
    questions: [{ type: 'A', name }],
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 512 + rng.below(4000),
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [{ code: 12, data: options }],
      },
    ],
  });
const randomLabel = (): string => rng.bytes(1 + rng.below(12)).toString('hex');

/** One bad (or odd) packet of a kind picked at random. */
function badPacket(): Buffer {
  const id = rng.below(0xfe00);
  switch (rng.below(11)) {
    case 0:
      return rng.bytes(rng.below(120));
    case 1: {
      const q = query(id, `${randomLabel()}.web.shoal`);
      return q.subarray(0, rng.below(q.length));
    }
    case 2: {
      const q = query(id, rng.below(2) ? 'web' : 'tasks.web.shoal');
      for (let flips = 1 + rng.below(4); flips > 0; flips--) q[rng.below(q.length)] ^= 1 << rng.below(8);
      return q;
    }
    case 3:
      return fiftyQuestions;
    case 4:
      return pointerLoops[rng.below(pointerLoops.length)];
    case 5: {
      const r = rng.bytes(12 + rng.below(60));
      r[2] |= 0x80;
      return r;
    }
    case 6: {
      // A bare header claiming records that never follow.
      const h = rng.bytes(12);
      h[2] &= 0x7f;
      return h;
    }
    case 7:
      // A fresh cluster name each time: NXDOMAIN answers churn the answer cache.
      return query(id, `${randomLabel()}.shoal`);
    case 8:
      // Forwarded to the upstream: exercises the per-query upstream sockets.
      return query(id, `${randomLabel()}.example.test`);
    case 9:
      return ednsQuery(id, 'web', rng.bytes(rng.below(300)));
    default:
      return rng.bytes(1000 + rng.below(3000));
  }
}

/** Sum of every series of the query counter: packets the server has handled. */
async function handled(registry: import('prom-client').Registry): Promise<number> {
  const { values } = await registry.getSingleMetric('shoal_dns_queries_total')!.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

/** One bad TCP client of a kind picked at random; resolves once its connection is closed. */
async function badTcpClient(port: number, kind: number): Promise<void> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });
  if (socket.destroyed) return;
  switch (kind) {
    case 0:
      socket.destroy();
      break;
    case 1:
      socket.end(Buffer.from([0xff, 0xff, 0x0a, 0xbc, 0x01]));
      break;
    case 2:
      socket.write(Buffer.from([0xff, 0xff, 0x0a, 0xbc, 0x01]));
      socket.resetAndDestroy();
      break;
    case 3: {
      // Garbage frames, then a good query: wait for its answer.
      const frames = Array.from({ length: 1 + rng.below(20) }, () => tcpFrame(badPacket()));
      socket.write(Buffer.concat([...frames, tcpFrame(query(PROBE_ID, 'web'))]));
      let got = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        for (let at = 0; at + 4 <= got.length; at += 2 + got.readUInt16BE(at)) {
          if (got.readUInt16BE(at + 2) === PROBE_ID) socket.destroy();
        }
      });
      break;
    }
    case 4:
      socket.write(Buffer.from([0x00]));
      socket.resetAndDestroy();
      break;
    case 5:
      socket.write(tcpFrame(query(PROBE_ID, 'web')));
      socket.resetAndDestroy();
      break;
    case 6:
      // Unframed garbage, then a FIN: the server must close its side too.
      socket.end(rng.bytes(rng.below(200)));
      break;
    default:
      // A length the server waits for and never gets: its idle timeout, or a size check, ends it.
      socket.write(Buffer.from([0xff, 0xff, ...HEADER]));
      break;
  }
  await closed;
}

t.test('100,000 bad UDP packets and hundreds of bad TCP connections: still serving, nothing leaked', async (t) => {
  const upstream = await fakeUpstream(t);
  const { port, registry } = await startServer(t, () => ({ services: web('127.21.0.1', ['127.100.0.1', '127.100.0.2']) }), {
    upstreams: [upstream],
    tcpIdleTimeoutMs: TCP_IDLE_TIMEOUT_MS,
  });
  t.same((await dig(port, ['web'])).answers, ['127.21.0.1'], 'serving before');
  const handlesBefore = activeHandles();

  const senders = await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
      return socket;
    }),
  );
  let replies = 0;
  let probeAnswered: (() => void) | null = null;
  for (const socket of senders) {
    socket.on('message', (msg) => {
      replies++;
      if (msg.length >= 2 && msg.readUInt16BE(0) === PROBE_ID) probeAnswered?.();
    });
  }

  let sent = 0;
  let probes = 0;
  let baseline = 0;
  const sendBurst = async (n: number): Promise<void> => {
    const socket = senders[(sent / BURST) % SENDERS | 0];
    for (let i = 0; i < n; i++) socket.send(badPacket(), port, '127.0.0.1');
    sent += n;
    // The server reads its socket in order and answers the probe itself: once the probe is
    // answered every packet before it was handled. Resent in case the kernel dropped it.
    await within(
      new Promise<void>((resolve) => {
        const resend = setInterval(() => {
          probes++;
          socket.send(query(PROBE_ID, 'web'), port, '127.0.0.1');
        }, 500);
        probeAnswered = () => {
          clearInterval(resend);
          probeAnswered = null;
          resolve();
        };
        probes++;
        socket.send(query(PROBE_ID, 'web'), port, '127.0.0.1');
      }),
      `the probe after ${sent} packets`,
    );
  };
  const handledBefore = await handled(registry);
  let digDuringFlood: Promise<DigResult> | undefined;
  while (sent < UDP_PACKETS) {
    await sendBurst(Math.min(BURST, UDP_PACKETS - sent));
    if (sent === WARM_UP_PACKETS) baseline = retainedBytes();
    // A real client while the flood goes on; dig retries nothing, so a lost answer fails.
    if (sent === UDP_PACKETS / 2) digDuringFlood = dig(port, ['web']);
  }
  t.same((await digDuringFlood)?.answers, ['127.21.0.1'], 'a real dig during the flood is answered');
  // Forwarded queries are counted when their answer comes back.
  let handledUdp = 0;
  // All of them, or as many as came by the timeout: the kernel may drop some, which the next check allows.
  await eventually(async () => (handledUdp = (await handled(registry)) - handledBefore) >= sent + probes, 'every packet handled').catch(() => undefined);
  t.comment(`handled ${handledUdp} of ${sent} bad packets and ${probes} probes; ${replies} replies`);
  // UDP: a few may be dropped by the kernel when the machine is busy.
  t.ok(handledUdp >= sent * 0.95, 'the server handled (nearly) every packet sent');

  let started = 0;
  const tcpWorker = async (): Promise<void> => {
    while (started < TCP_CONNECTIONS) {
      const kind = started++ % 8;
      await within(badTcpClient(port, kind), `bad TCP connection of kind ${kind} to end`);
    }
  };
  await Promise.all(Array.from({ length: TCP_CONCURRENCY }, tcpWorker));

  for (const transport of ['+notcp', '+tcp']) {
    t.same((await dig(port, [transport, 'web'])).answers, ['127.21.0.1'], `${transport}: a real dig is still answered`);
  }

  await Promise.all(senders.map((s) => new Promise<void>((r) => s.close(() => r()))));
  const handlesBack = await eventually(() => activeHandles() <= handlesBefore, 'handles to close').then(
    () => true,
    () => false,
  );
  t.ok(handlesBack, `handles back to ${handlesBefore} (now ${activeHandles()})`);
  const growth = retainedBytes() - baseline;
  t.ok(growth < MAX_GROWTH_BYTES, `memory grew by ${(growth / 1048576).toFixed(1)} MB, under ${MAX_GROWTH_BYTES / 1048576} MB`);
});
