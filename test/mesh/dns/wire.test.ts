import t from 'tap';
import * as dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import { encodeForUdp, isResponsePacket, rawErrorResponse, udpResponseLimit } from '../../../src/mesh/dns/wire';

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
