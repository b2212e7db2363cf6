import t from 'tap';
import * as dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import type { Packet } from 'dns-packet';
import pino from 'pino';
import { Registry } from 'prom-client';
import { answerCacheKey } from '../../../src/mesh/dns/answer-cache';
import { answerQuery } from '../../../src/mesh/dns/answer';
import { DnsServer } from '../../../src/mesh/dns/server';
import type { DnsView } from '../../../src/mesh/dns/view';
import { encodeForUdp, udpResponseLimit } from '../../../src/mesh/dns/wire';

/** Longest any single wait in this file may take before the test fails instead of hanging. */
const WAIT_MS = 5000;

function query(name: string, extra: Partial<Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }], ...extra });
}

const edns: Partial<Packet> = {
  additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
};

t.test('answerCacheKey: plain queries get a key, anything unusual takes the full path', async (t) => {
  const plain = query('web.shoal');
  const withPointer = Buffer.concat([plain.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  const responseBit = Buffer.from(plain);
  responseBit[2] |= 0x80;
  const notify = Buffer.from(plain);
  notify[2] |= 0x20;
  const cases: { name: string; raw: Buffer; tcp?: boolean; key: boolean }[] = [
    { name: 'plain A query', raw: plain, key: true },
    { name: 'EDNS query without options', raw: query('web', edns), key: true },
    { name: 'over TCP', raw: plain, tcp: true, key: true },
    { name: 'two questions', raw: query('a', { questions: [{ type: 'A', name: 'a' }, { type: 'A', name: 'b' }] }), key: false },
    { name: 'compression pointer in the name', raw: withPointer, key: false },
    { name: 'a response', raw: responseBit, key: false },
    { name: 'opcode not QUERY', raw: notify, key: false },
    { name: 'trailing bytes', raw: Buffer.concat([plain, Buffer.from([0])]), key: false },
    { name: 'truncated question', raw: plain.subarray(0, plain.length - 2), key: false },
    { name: 'label with a space', raw: query('we b'), key: false },
    {
      name: 'EDNS with an option',
      raw: query('web', { additionals: [{ ...(edns.additionals![0] as object), options: [{ code: 10, data: Buffer.alloc(8) }] } as never] }),
      key: false,
    },
  ];
  for (const c of cases) t.equal(answerCacheKey(c.raw, c.tcp ?? false) !== null, c.key, c.name);

  t.not(answerCacheKey(plain, false), answerCacheKey(query('WEB.shoal'), false), 'the name as sent is part of the key');
  t.not(answerCacheKey(plain, false), answerCacheKey(plain, true), 'UDP and TCP responses are kept apart');
  t.not(answerCacheKey(query('web'), false), answerCacheKey(query('web', edns), false), 'EDNS and plain queries are kept apart');
  const otherId = Buffer.from(plain);
  otherId.writeUInt16BE(999, 0);
  t.equal(answerCacheKey(plain, false), answerCacheKey(otherId, false), 'the ID is not part of the key');
});

/** Sends `raw` over UDP to the server and resolves with the response. */
function ask(socket: dgram.Socket, port: number, raw: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for a DNS response')), WAIT_MS);
    socket.once('message', (msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
    socket.send(raw, port, '127.0.0.1');
  });
}

function withId(raw: Buffer, id: number, rd: boolean): Buffer {
  const out = Buffer.from(raw);
  out.writeUInt16BE(id, 0);
  out[2] = rd ? out[2] | 1 : out[2] & ~1;
  return out;
}

/** What the full path (decode, answer, encode) gives for `raw` at rotation counter `rotate`. */
function fresh(raw: Buffer, view: DnsView, rotate: number): Buffer {
  const decoded = dnsPacket.decode(raw);
  const decision = answerQuery(decoded, view, { domain: 'shoal', ttl: 0, rotate });
  if (decision.kind !== 'answer') throw new Error('expected an answer');
  return encodeForUdp(decision.response, udpResponseLimit(decoded));
}

t.test('the server answers repeated questions from its cache, byte for byte, per view', async (t) => {
  let view: DnsView = {
    services: new Map([
      ['web', { vip: '127.100.0.2', mode: 'vip', taskAddresses: ['127.100.0.9'] }],
      ['db', { vip: null, mode: 'dnsrr', taskAddresses: ['127.100.0.3', '127.100.0.4', '127.100.0.5'] }],
    ]),
  };
  const server = new DnsServer(
    { logger: pino({ level: 'silent' }), registry: new Registry(), getView: () => view },
    { address: '127.0.0.1', port: 0, upstreams: [] },
  );
  const { port } = await server.listen();
  const client = dgram.createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  t.teardown(async () => {
    client.close();
    await server.close();
  });

  for (const [label, q] of [
    ['plain', query('Web.shoal')],
    ['EDNS', query('web', edns)],
    ['NXDOMAIN', query('nope.shoal')],
  ] as const) {
    const first = await ask(client, port, withId(q, 1, true));
    const second = await ask(client, port, withId(q, 2, false));
    const third = await ask(client, port, withId(q, 3, true));
    t.same(second, withId(first, 2, false), `${label}: the cached answer differs only in ID and RD`);
    t.same(third, withId(fresh(q, view, 0), 3, true), `${label}: the cached answer equals a fresh encode`);
  }

  await ask(client, port, query('db'));
  view = { services: new Map([['web', { vip: '127.100.0.77', mode: 'vip', taskAddresses: [] }]]) };
  const after = dnsPacket.decode(await ask(client, port, query('Web.shoal')));
  t.same(
    after.answers?.map((a) => (a as { data: unknown }).data),
    ['127.100.0.77'],
    'a new view object drops the cached answers',
  );
  const gone = dnsPacket.decode(await ask(client, port, query('db')));
  t.equal((gone.flags ?? 0) & 0xf, 3, 'a name gone from the view is NXDOMAIN');

  view = {
    services: new Map([['db', { vip: null, mode: 'dnsrr', taskAddresses: ['127.100.0.3', '127.100.0.4', '127.100.0.5'] }]]),
  };
  const firsts: string[] = [];
  for (let i = 0; i < 6; i++) {
    const response = dnsPacket.decode(await ask(client, port, withId(query('db'), i, true)));
    const data = response.answers?.map((a) => (a as { data: string }).data) ?? [];
    t.same([...data].sort(), ['127.100.0.3', '127.100.0.4', '127.100.0.5'], 'every answer holds all tasks');
    firsts.push(data[0]);
  }
  t.same(firsts.slice(0, 3), firsts.slice(3), 'the rotation repeats with the number of tasks');
  t.equal(new Set(firsts).size, 3, 'dnsrr answers still rotate when cached');
});
