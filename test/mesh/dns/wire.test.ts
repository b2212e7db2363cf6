import t from 'tap';
import * as dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import { decodeMessage, encodeForUdp, isResponsePacket, rawErrorResponse, udpResponseLimit } from '../../../src/mesh/dns/wire';

t.test('rawErrorResponse', async (t) => {
  const cases: { name: string; raw: Buffer; want: null | { id: number; rd: boolean; opcode: number } }[] = [
    { name: 'empty', raw: Buffer.alloc(0), want: null },
    { name: 'ID only', raw: Buffer.from([0x12, 0x34]), want: null },
    { name: 'a response is never answered', raw: Buffer.from([0x12, 0x34, 0x80, 0, 0, 1]), want: null },
    { name: 'truncated header', raw: Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00]), want: { id: 0x1234, rd: true, opcode: 0 } },
    { name: 'opcode kept, RD clear', raw: Buffer.from([0xab, 0xcd, 0x10, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7]), want: { id: 0xabcd, rd: false, opcode: 2 } },
  ];
  for (const c of cases) {
    const out = rawErrorResponse(c.raw, 1);
    if (c.want === null) {
      t.equal(out, null, c.name);
      continue;
    }
    t.ok(out, c.name);
    if (!out) continue;
    t.equal(out.length, 12, `${c.name}: header only`);
    t.equal(out.readUInt16BE(0), c.want.id, `${c.name}: id`);
    const flags = out.readUInt16BE(2);
    t.ok(isResponsePacket(out), `${c.name}: QR`);
    t.equal(flags & 0xf, 1, `${c.name}: rcode`);
    t.equal((flags >> 11) & 0xf, c.want.opcode, `${c.name}: opcode`);
    t.equal((flags & dnsPacket.RECURSION_DESIRED) !== 0, c.want.rd, `${c.name}: RD`);
    t.equal(out.readUInt16BE(4), 0, `${c.name}: no question`);
  }
});

t.test('udpResponseLimit', async (t) => {
  const opt = (size: number): Answer => ({ type: 'OPT', name: '.', udpPayloadSize: size, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] });
  t.equal(udpResponseLimit({}), 512, 'no EDNS');
  t.equal(udpResponseLimit({ additionals: [opt(1232)] }), 1232);
  t.equal(udpResponseLimit({ additionals: [opt(100)] }), 512, 'never below 512');
  t.equal(udpResponseLimit({ additionals: [opt(65_000)] }), 4096, 'capped');
});

t.test('encodeForUdp truncates with TC and keeps what fits', async (t) => {
  const answers: Answer[] = [];
  for (let i = 1; i <= 100; i++) answers.push({ type: 'A', name: 'tasks.big', ttl: 0, data: `127.100.0.${i}` });
  const response: Packet = { type: 'response', id: 7, flags: 0, questions: [{ type: 'A', name: 'tasks.big' }], answers };

  const small = encodeForUdp({ ...response, answers: answers.slice(0, 3) }, 512);
  t.equal(dnsPacket.decode(small).flag_tc, false, 'fits: no TC');
  t.equal(dnsPacket.decode(small).answers?.length, 3);

  const big = encodeForUdp(response, 512);
  t.ok(big.length <= 512, 'within the limit');
  const decoded = dnsPacket.decode(big);
  t.equal(decoded.flag_tc, true, 'TC set');
  t.ok(decoded.answers!.length > 0 && decoded.answers!.length < 100, `kept ${decoded.answers!.length} answers`);
  t.equal(decoded.id, 7);
});

t.test('decodeMessage: null for what cannot be a well-formed message, checked before dns-packet allocates', async (t) => {
  const header = (qd: number, an: number, ns: number, ar: number): number[] => [0x12, 0x34, 0x01, 0x00, qd >> 8, qd & 255, an >> 8, an & 255, ns >> 8, ns & 255, ar >> 8, ar & 255];
  const root = [0x00, 0x00, 0x01, 0x00, 0x01];
  const rootRecord = [0x00, 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0x00, 0x00];
  const good = dnsPacket.encode({ type: 'query', id: 9, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'web.shoal' }] });
  const cases: { name: string; raw: Buffer; decodes: boolean }[] = [
    { name: 'a real query', raw: good, decodes: true },
    { name: 'shorter than a header', raw: good.subarray(0, 11), decodes: false },
    { name: 'a header alone with no records', raw: Buffer.from(header(0, 0, 0, 0)), decodes: true },
    { name: 'the smallest question', raw: Buffer.from([...header(1, 0, 0, 0), ...root]), decodes: true },
    { name: 'the smallest record', raw: Buffer.from([...header(0, 1, 0, 0), ...rootRecord]), decodes: true },
    { name: 'one byte short of a question', raw: Buffer.from([...header(1, 0, 0, 0), ...root.slice(1)]), decodes: false },
    { name: 'one byte short of a record', raw: Buffer.from([...header(0, 0, 0, 1), ...rootRecord.slice(1)]), decodes: false },
    { name: 'a bare header claiming 65535 of everything', raw: Buffer.from(header(0xffff, 0xffff, 0xffff, 0xffff)), decodes: false },
    { name: 'room for the counts, but a pointer loop', raw: Buffer.from([...header(1, 0, 0, 0), 0xc0, 12, 0, 1, 0, 1]), decodes: false },
  ];
  for (const c of cases) {
    const out = decodeMessage(c.raw);
    t.equal(out !== null, c.decodes, c.name);
    if (out) t.equal(out.id, c.raw.readUInt16BE(0), `${c.name}: id`);
  }
});
