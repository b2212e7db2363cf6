import t from 'tap';
import {
  attributeMap,
  be16Attr,
  bytesAttr,
  decodeAttributes,
  encodeAttributes,
  nestedAttr,
  readBe16,
  readS32,
  readString,
  readU16,
  readU32,
  stringAttr,
  u16Attr,
  u32Attr,
  u8Attr,
} from '../../../src/net/genl/netlink-attribute';
import type { NetlinkAttribute } from '../../../src/net/genl/netlink-attribute';
import { hex, rows } from './hex-fixture';

t.test('encoding: header, payload, zero padding to 4 bytes', async (t) => {
  const cases: { name: string; attrs: NetlinkAttribute[]; bytes: string }[] = [
    { name: 'u8', attrs: [u8Attr(13, 7)], bytes: '05 00 0d 00  07 00 00 00 // len 5, type 13, value, 3 pad' },
    { name: 'u16 host order', attrs: [u16Attr(1, 2)], bytes: '06 00 01 00  02 00 00 00 // len 6, type 1, 0x0002 LE, 2 pad' },
    { name: 'be16 port 8080', attrs: [be16Attr(4, 8080)], bytes: '06 00 04 00  1f 90 00 00 // 0x1f90 big-endian' },
    { name: 'u32', attrs: [u32Attr(8, 0x01020304)], bytes: '08 00 08 00  04 03 02 01 // no padding needed' },
    { name: 'u32 all ones', attrs: [u32Attr(9, 0xffffffff)], bytes: '08 00 09 00  ff ff ff ff' },
    { name: 'string with NUL', attrs: [stringAttr(2, 'IPVS')], bytes: '09 00 02 00  49 50 56 53 00  00 00 00 // "IPVS\\0", 3 pad' },
    { name: 'empty string is just NUL', attrs: [stringAttr(6, '')], bytes: '05 00 06 00  00 00 00 00' },
    { name: 'empty binary', attrs: [bytesAttr(3, Buffer.alloc(0))], bytes: '04 00 03 00' },
    {
      name: 'nested sets NLA_F_NESTED and nests padded children',
      attrs: [nestedAttr(1, [u16Attr(1, 2), stringAttr(6, 'rr')])],
      bytes: `
        14 00 01 80   // len 20, type 1 | NLA_F_NESTED (0x8000)
        06 00 01 00  02 00 00 00   // child u16
        07 00 06 00  72 72 00 00   // child "rr\\0" + 1 pad`,
    },
    {
      name: 'two attributes back to back',
      attrs: [u16Attr(1, 10), u32Attr(5, 1)],
      bytes: '06 00 01 00  0a 00 00 00  08 00 05 00  01 00 00 00',
    },
  ];
  for (const c of cases) t.same(rows(encodeAttributes(c.attrs)), rows(hex(c.bytes)), c.name);
});

t.test('decoding: types without flags, payload without padding, last duplicate wins', async (t) => {
  const buf = hex(`
    06 00 01 00  02 00 00 00        // type 1 u16 = 2
    0c 00 0a 80  08 00 01 00 05 00 00 00   // type 10, nested flag, holds type 1 u32 = 5
    06 00 04 40  00 35 00 00        // type 4 with NLA_F_NET_BYTEORDER: be16 53
    06 00 01 00  07 00 00 00        // type 1 again: 7
    01 02                            // trailing bytes shorter than a header: ignored
  `);
  const attrs = decodeAttributes(buf);
  t.same(
    attrs.map((a) => [a.type, a.nested, a.value.length]),
    [
      [1, false, 2],
      [10, true, 8],
      [4, false, 2],
      [1, false, 2],
    ],
  );
  const m = attributeMap(buf);
  t.equal(readU16(m.get(1)), 7, 'last one wins');
  t.equal(readBe16(m.get(4)), 53);
  t.equal(readU32(attributeMap(m.get(10)!).get(1)), 5, 'nested payload decodes');
  t.equal(readU16(m.get(99)), undefined, 'absent attribute');
});

t.test('readers', async (t) => {
  t.equal(readS32(hex('ff ff ff ff')), -1);
  t.equal(readU32(hex('ff ff ff ff')), 0xffffffff);
  t.equal(readString(hex('72 72 00 00')), 'rr', 'stops at NUL');
  t.equal(readString(hex('72 72')), 'rr', 'unterminated');
  t.throws(() => readU32(hex('01 02')), /u32 attribute has 2 bytes/);
});

t.test('malformed attributes are errors', async (t) => {
  t.throws(() => decodeAttributes(hex('08 00 01 00 01 00')), /malformed netlink attribute at offset 0/, 'longer than the buffer');
  t.throws(() => decodeAttributes(hex('02 00 01 00')), /length 2/, 'shorter than its header');
});

t.test('round trip', async (t) => {
  const buf = encodeAttributes([u16Attr(1, 10), stringAttr(6, 'wlc'), nestedAttr(2, [u32Attr(4, 3)])]);
  const m = attributeMap(buf);
  t.equal(readU16(m.get(1)), 10);
  t.equal(readString(m.get(6)), 'wlc');
  t.equal(readU32(attributeMap(m.get(2)!).get(4)), 3);
});
