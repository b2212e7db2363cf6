import t, { type Test } from 'tap';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import { Registry } from 'prom-client';
import { DnsServer } from '../../../src/mesh/dns/server';
import type { Upstream } from '../../../src/mesh/dns/upstream';
import type { DnsView } from '../../../src/mesh/dns/view';
import { within } from '../../support/eventually';
import { dig, fakeUpstream, query, startServer, udpExchange, udpRepliesUntilMarker, web } from './dns-fixtures';

const logger = pino({ level: 'silent' });

/** A UDP port that swallows queries: an upstream that never answers. */
async function silentUpstream(t: Test): Promise<Upstream> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  t.teardown(() => udp.close());
  return { host: '127.0.0.1', port: udp.address().port };
}

t.test('answers cluster names over UDP and TCP and follows view changes', async (t) => {
  let view: DnsView = { services: web('127.21.0.1', ['127.100.0.2', '127.100.0.1']) };
  let viewCalls = 0;
  const { port, registry } = await startServer(t, () => {
    viewCalls++;
    return view;
  });

  for (const transport of ['+notcp', '+tcp']) {
    const vip = await dig(port, [transport, 'web']);
    t.equal(vip.status, 'NOERROR', `${transport} status`);
    t.same(vip.answers, ['127.21.0.1'], `${transport}: service -> VIP`);
    t.ok(vip.flags.includes('aa') && vip.flags.includes('ra') && vip.flags.includes('rd'), `${transport}: flags ${vip.flags}`);

    const tasks = await dig(port, [transport, 'TASKS.web.shoal']);
    t.same(tasks.answers.sort(), ['127.100.0.1', '127.100.0.2'], `${transport}: tasks.web -> task addresses`);

    const missing = await dig(port, [transport, 'nope']);
    t.equal(missing.status, 'NXDOMAIN', `${transport}: unknown service`);

    const v6 = await dig(port, [transport, 'web', 'AAAA']);
    t.equal(v6.status, 'NOERROR', `${transport}: AAAA on a service is NODATA`);
    t.same(v6.answers, []);
  }

  const callsBefore = viewCalls;
  view = { services: web('127.21.0.9', []) };
  t.same((await dig(port, ['web'])).answers, ['127.21.0.9'], 'the next query sees the new view');
  t.ok(viewCalls > callsBefore, 'getView is read per query');

  const metrics = await registry.getSingleMetricAsString('shoal_dns_queries_total');
  t.match(metrics, /shoal_dns_queries_total\{result="ok"\} [1-9]/);
  t.match(metrics, /shoal_dns_queries_total\{result="nxdomain"\} 2/);
});

t.test('answers too big for UDP are truncated and dig retries over TCP', async (t) => {
  const many = Array.from({ length: 120 }, (_, i) => `127.100.${i >> 8}.${(i & 255) + 1}`);
  const { port } = await startServer(t, () => ({ services: web('127.21.0.1', many) }));
  const udpOnly = await dig(port, ['+ignore', 'tasks.web']);
  t.ok(udpOnly.flags.includes('tc'), 'UDP answer has TC');
  t.ok(udpOnly.answers.length < many.length, 'UDP answer holds part of the records');
  const full = await dig(port, ['tasks.web']);
  t.equal(full.answers.length, many.length, 'retried over TCP, all records');
});

t.test('forwards other names to the upstream over UDP and TCP', async (t) => {
  const upstream = await fakeUpstream(t);
  const { port, registry } = await startServer(t, () => ({ services: web('127.21.0.1', []) }), { upstreams: [upstream] });
  for (const transport of ['+notcp', '+tcp']) {
    const r = await dig(port, [transport, 'example.test']);
    t.equal(r.status, 'NOERROR', transport);
    t.same(r.answers, ['192.0.2.1'], `${transport}: upstream answer relayed`);
    t.notOk(r.flags.includes('aa'), 'not authoritative for forwarded names');
    const nx = await dig(port, [transport, 'other.test']);
    t.equal(nx.status, 'NXDOMAIN', `${transport}: upstream NXDOMAIN relayed`);
  }
  t.equal(upstream.queries, 4, 'every forwarded query reached the upstream');
  t.match(await registry.getSingleMetricAsString('shoal_dns_queries_total'), /result="forwarded"\} 4/);
});

t.test('upstream timeout: SERVFAIL, or the next upstream', async (t) => {
  const silent = await silentUpstream(t);
  const upstream = await fakeUpstream(t);
  const lone = await startServer(t, () => ({ services: new Map() }), { upstreams: [silent], upstreamTimeoutMs: 200 });
  for (const transport of ['+notcp', '+tcp']) {
    t.equal((await dig(lone.port, [transport, 'example.test'])).status, 'SERVFAIL', `${transport}: only upstream silent`);
  }
  t.match(await lone.registry.getSingleMetricAsString('shoal_dns_queries_total'), /result="servfail"\} 2/);

  const failover = await startServer(t, () => ({ services: new Map() }), { upstreams: [silent, upstream], upstreamTimeoutMs: 200 });
  t.same((await dig(failover.port, ['example.test'])).answers, ['192.0.2.1'], 'second upstream answers');

  const none = await startServer(t, () => ({ services: new Map() }), { upstreams: [] });
  t.equal((await dig(none.port, ['example.test'])).status, 'SERVFAIL', 'no upstream at all');
});

t.test('malformed packets never stop the server', async (t) => {
  const { port, registry } = await startServer(t, () => ({ services: web('127.21.0.1', []) }));

  // Header says one question, none follows: undecodable, ID readable.
  const noQuestion = Buffer.from([0xca, 0xfe, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
  const formerr = await within(udpExchange(port, noQuestion, 2000), 'FORMERR');
  t.ok(formerr, 'answered');
  t.equal(formerr!.readUInt16BE(0), 0xcafe, 'FORMERR carries the query ID');
  t.equal(formerr!.readUInt16BE(2) & 0x800f, 0x8001, 'QR set, rcode FORMERR');

  const truncatedHeader = Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01]);
  const short = await within(udpExchange(port, truncatedHeader, 2000), 'FORMERR for a short header');
  t.equal(short?.readUInt16BE(0), 0x1234, 'short header: FORMERR with the ID');

  const twoQuestions = dnsPacket.encode({
    type: 'query',
    id: 77,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [
      { type: 'A', name: 'web' },
      { type: 'A', name: 'web' },
    ],
  });
  const two = await within(udpExchange(port, twoQuestions, 2000), 'FORMERR for QDCOUNT 2');
  t.equal(two && two.readUInt16BE(0), 77, 'QDCOUNT 2: answered with the ID');
  t.equal(two && two.readUInt16BE(2) & 0xf, 1, 'QDCOUNT 2: FORMERR');

  // A response sent to the server must not be answered (reflection loops).
  const response = dnsPacket.encode({ type: 'response', id: 5, questions: [{ type: 'A', name: 'web' }] });
  const replies = await udpRepliesUntilMarker(port, [response], query(6, 'web'));
  t.same(replies.map((m) => m.readUInt16BE(0)), [6], 'responses are dropped: only the marker query after it is answered');

  // Deterministic garbage: a linear congruential generator, so a failure is reproducible.
  let seed = 12345;
  const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  const sender = dgram.createSocket('udp4');
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
  t.teardown(() => sender.close());
  for (let i = 0; i < 300; i++) {
    const junk = Buffer.from(Array.from({ length: i % 80 }, next));
    await new Promise<void>((r) => sender.send(junk, port, '127.0.0.1', () => r()));
  }
  sender.send(Buffer.alloc(0), port, '127.0.0.1');
  sender.send(Buffer.from([0xff]), port, '127.0.0.1');

  // Over TCP: a garbage frame, then a real query on the same connection.
  const tcpAnswers = await within(
    new Promise<Buffer[]>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      const frames: Buffer[] = [];
      let buf = Buffer.alloc(0);
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          frames.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          buf = buf.subarray(2 + frames[frames.length - 1].length);
        }
        if (frames.length === 3) {
          socket.destroy();
          resolve(frames);
        }
      });
      const frame = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
      const q = (id: number, name: string): Buffer => dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ type: 'A', name }] });
      socket.write(Buffer.concat([frame(noQuestion), frame(q(1, 'web')), frame(q(2, 'tasks.web'))]));
    }),
    'TCP answers',
  );
  t.same(
    tcpAnswers.map((b) => b.readUInt16BE(0)),
    [0xcafe, 1, 2],
    'FORMERR then two answers on one connection',
  );

  const after = await dig(port, ['web']);
  t.same(after.answers, ['127.21.0.1'], 'still serving after garbage');
  t.match(await registry.getSingleMetricAsString('shoal_dns_queries_total'), /result="dropped"\} [1-9]/);
});

t.test('TCP connections: their number is bounded, idle ones are closed', async (t) => {
  const closed = (socket: net.Socket): Promise<void> => new Promise((resolve) => socket.once('close', () => resolve()));
  const connect = async (port: number): Promise<net.Socket> => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    t.teardown(() => socket.destroy());
    await within(new Promise((r) => socket.once('connect', r)), 'a TCP connection');
    return socket;
  };

  // Idle timeout far beyond WAIT_MS: only the bound can close the second connection in time.
  const bounded = await startServer(t, () => ({ services: new Map() }), { maxTcpConnections: 1, tcpIdleTimeoutMs: 60_000 });
  const first = await connect(bounded.port);
  const second = net.connect(bounded.port, '127.0.0.1');
  second.on('error', () => undefined);
  await within(closed(second), 'the connection over the bound to be closed');
  t.notOk(first.destroyed, 'the first connection is still open');

  const idle = await startServer(t, () => ({ services: new Map() }), { tcpIdleTimeoutMs: 100 });
  await within(closed(await connect(idle.port)), 'the idle connection to be closed');
  t.pass('idle connection closed by the server');
});

t.test('listen and close', async (t) => {
  const registry = new Registry();
  const server = new DnsServer({ logger, registry, getView: () => ({ services: new Map() }) }, { address: '127.0.0.1', port: 0, upstreams: [] });
  const { port } = await server.listen();
  t.ok(port > 0);
  // The port is taken for UDP and TCP: a second server on it must fail, cleanly.
  const clash = new DnsServer({ logger, registry: new Registry(), getView: () => ({ services: new Map() }) }, { address: '127.0.0.1', port, upstreams: [] });
  await t.rejects(clash.listen(), { code: 'SHOAL_ERR_PORT_IN_USE' });
  await clash.close();
  await server.close();
  await server.close();
  t.pass('close twice is safe');

  t.throws(() => new DnsServer({ logger, registry: new Registry(), getView: () => ({ services: new Map() }) }, { address: '127.0.0.1', port: 0, ttl: 601 }), {
    code: 'SHOAL_ERR_INVALID_ARGUMENT',
  });
  t.throws(() => new DnsServer({ logger, registry: new Registry(), getView: () => ({ services: new Map() }) }, { address: 'localhost', port: 0 }), {
    code: 'SHOAL_ERR_INVALID_ARGUMENT',
  });
});
