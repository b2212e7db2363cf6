import * as net from 'node:net';
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import {
  PROXY_V2_SIGNATURE,
  proxyHeader,
  proxyHeaderV1,
  proxyHeaderV2,
} from '../../../../src/mesh/dataplane/userspace/proxy-protocol';
import { UserspaceDataplane } from '../../../../src/mesh/dataplane/userspace/userspace-dataplane';
import type { Frontend } from '../../../../src/mesh/table/table';
import { within } from '../../../support/eventually';
import { freePort } from '../../../support/free-port';
import { asBackend, frontendOf, scriptedBackend } from '../fixtures/backends';

const ADDR = '127.0.0.1';

t.test('v1 headers, byte for byte', async (t) => {
  const cases: { name: string; src: [string, number]; dst: [string, number]; want: string }[] = [
    {
      name: "the spec's longest TCP4 line",
      src: ['255.255.255.255', 65535],
      dst: ['255.255.255.255', 65535],
      want: 'PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n',
    },
    { name: 'a loopback TCP4 pair', src: ['127.0.0.1', 40000], dst: ['127.0.1.1', 8080], want: 'PROXY TCP4 127.0.0.1 127.0.1.1 40000 8080\r\n' },
    { name: 'IPv4-mapped IPv6 is TCP4', src: ['::ffff:10.0.0.1', 1], dst: ['::ffff:10.0.0.2', 2], want: 'PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n' },
    { name: 'TCP6', src: ['::1', 5000], dst: ['fe80::1', 443], want: 'PROXY TCP6 ::1 fe80::1 5000 443\r\n' },
    { name: 'mixed families are UNKNOWN', src: ['::1', 5000], dst: ['127.0.0.1', 443], want: 'PROXY UNKNOWN\r\n' },
    { name: 'no address is UNKNOWN', src: ['', 0], dst: ['127.0.0.1', 443], want: 'PROXY UNKNOWN\r\n' },
  ];
  for (const c of cases) {
    const got = proxyHeaderV1({ address: c.src[0], port: c.src[1] }, { address: c.dst[0], port: c.dst[1] });
    t.equal(got.toString('latin1'), c.want, c.name);
  }
  t.ok(
    proxyHeader('v1', { address: '255.255.255.255', port: 65535 }, { address: '255.255.255.255', port: 65535 }).length <= 107,
    'within the spec bound of 107 bytes',
  );
});

t.test('v2 headers, byte for byte', async (t) => {
  const ipv4 = Buffer.from([
    // signature \r\n\r\n\0\r\nQUIT\n
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    0x21, // version 2, PROXY
    0x11, // AF_INET, STREAM
    0x00, 0x0c, // 12 bytes of addresses
    192, 168, 0, 1, // src 192.168.0.1
    10, 0, 0, 2, // dst 10.0.0.2
    0xdd, 0xd5, // sport 56789
    0x01, 0xbb, // dport 443
  ]);
  t.same(proxyHeaderV2({ address: '192.168.0.1', port: 56789 }, { address: '10.0.0.2', port: 443 }), ipv4, 'TCP over IPv4');
  t.same(proxyHeader('v2', { address: '::ffff:192.168.0.1', port: 56789 }, { address: '::ffff:10.0.0.2', port: 443 }), ipv4, 'mapped IPv4');

  const ipv6 = Buffer.concat([
    PROXY_V2_SIGNATURE,
    Buffer.from([0x21, 0x21, 0x00, 0x24]),
    Buffer.from('20010db8000000000000000000000001', 'hex'),
    Buffer.from('00000000000000000000000000000001', 'hex'),
    Buffer.from([0x13, 0x88, 0x00, 0x50]),
  ]);
  t.same(proxyHeaderV2({ address: '2001:db8::1', port: 5000 }, { address: '::1', port: 80 }), ipv6, 'TCP over IPv6');

  const local = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  t.same(proxyHeaderV2({ address: '::1', port: 1 }, { address: '127.0.0.1', port: 2 }), local, 'mixed families: LOCAL, UNSPEC');
});

/** What a PROXY-aware backend learnt from one connection's header, and the bytes after it. */
interface Parsed {
  source: string;
  sourcePort: number;
  dest: string;
  destPort: number;
  rest: string;
}

/** A minimal PROXY header parser, as a backend would run (v1 line or v2 IPv4 block). */
function parseProxy(data: Buffer): Parsed | undefined {
  if (data.subarray(0, 12).equals(PROXY_V2_SIGNATURE)) {
    if (data.length < 16) return undefined;
    const len = data.readUInt16BE(14);
    if (data.length < 16 + len) return undefined;
    if (data[12] !== 0x21 || data[13] !== 0x11) throw new Error(`unexpected v2 command/family ${data[12]}/${data[13]}`);
    const ip = (o: number) => [...data.subarray(o, o + 4)].join('.');
    return {
      source: ip(16),
      dest: ip(20),
      sourcePort: data.readUInt16BE(24),
      destPort: data.readUInt16BE(26),
      rest: data.subarray(16 + len).toString(),
    };
  }
  const end = data.indexOf('\r\n');
  if (end < 0) return undefined;
  const [magic, proto, source, dest, sport, dport] = data.subarray(0, end).toString('latin1').split(' ');
  if (magic !== 'PROXY' || proto !== 'TCP4') throw new Error(`bad v1 line ${data.subarray(0, end).toString()}`);
  return { source, dest, sourcePort: Number(sport), destPort: Number(dport), rest: data.subarray(end + 2).toString() };
}

/** A backend that parses the PROXY header of every connection and answers `ok`. */
async function proxyAwareBackend(t: tap.Test) {
  const seen: Parsed[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const parsed = parseProxy(data);
      if (parsed && parsed.rest.length > 0) {
        seen.push(parsed);
        socket.end('ok\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: ADDR, port: 0 }, resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { seen, port: (server.address() as net.AddressInfo).port };
}

for (const version of ['v1', 'v2'] as const) {
  t.test(`a ${version} backend sees the real client address and port`, async (t) => {
    const backend = await proxyAwareBackend(t);
    const dp = new UserspaceDataplane({ logger: pino({ level: 'silent' }), registry: new Registry() });
    t.teardown(() => dp.close());
    const port = await freePort('tcp');
    const frontend: Frontend = {
      ...frontendOf('tcp', ADDR, port, [{ id: 'b', address: ADDR, port: backend.port, weight: 1 }]),
      proxyProtocol: version,
    };
    t.same((await dp.apply({ frontends: [frontend] })).failed, []);

    // Bind the client to a chosen loopback source so the header has something to prove.
    const client = net.connect({ host: ADDR, port, localAddress: '127.0.0.2' });
    t.teardown(() => {
      client.destroy();
    });
    let reply = '';
    client.on('data', (d: Buffer) => (reply += d.toString()));
    await within(new Promise((resolve) => client.once('connect', resolve)), 'the client connect');
    client.write('hello');
    await within(new Promise((resolve) => client.once('end', resolve)), 'the reply');
    t.equal(reply, 'ok\n');
    t.same(backend.seen, [
      { source: '127.0.0.2', sourcePort: client.localPort, dest: ADDR, destPort: port, rest: 'hello' },
    ]);
  });
}

t.test('a replay to the next backend starts with the header again', async (t) => {
  // Dies once it has the whole request: the header and the request may come in one segment or two.
  const dying = await scriptedBackend(t, 'dying', (socket) => {
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.endsWith('hello')) socket.destroy();
    });
  });
  const backend = await proxyAwareBackend(t);
  const dp = new UserspaceDataplane({ logger: pino({ level: 'silent' }), registry: new Registry() });
  t.teardown(() => dp.close());
  const port = await freePort('tcp');
  const frontend: Frontend = {
    ...frontendOf('tcp', ADDR, port, [asBackend(dying), { id: 'aware', address: ADDR, port: backend.port, weight: 1 }]),
    proxyProtocol: 'v1',
  };
  t.same((await dp.apply({ frontends: [frontend] })).failed, []);
  const client = net.connect({ host: ADDR, port });
  t.teardown(() => {
    client.destroy();
  });
  client.on('error', () => undefined);
  let reply = '';
  client.on('data', (d: Buffer) => (reply += d.toString()));
  await within(new Promise((resolve) => client.once('connect', resolve)), 'the client connect');
  client.write('hello');
  await within(new Promise((resolve) => client.once('end', resolve)), 'the reply');
  t.equal(reply, 'ok\n');
  const header = `PROXY TCP4 127.0.0.1 127.0.0.1 ${client.localPort} ${port}\r\n`;
  t.equal(dying.received, header.length + 'hello'.length, 'the first backend got the header and the request');
  t.same(backend.seen, [{ source: ADDR, sourcePort: client.localPort, dest: ADDR, destPort: port, rest: 'hello' }]);
});
