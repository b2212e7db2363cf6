import t from 'tap';
import { crc32, crc32Table } from '../../src/store/crc32';

const cases: [string, string, number][] = [
  ['empty', '', 0x00000000],
  ['check value', '123456789', 0xcbf43926],
  ['text', 'The quick brown fox jumps over the lazy dog', 0x414fa339],
];

for (const [name, input, want] of cases) {
  t.test(name, async (t) => {
    t.equal(crc32Table(Buffer.from(input)), want, 'table');
    t.equal(crc32(Buffer.from(input)), want, 'chosen implementation');
  });
}

t.test('table and chosen implementation agree on binary data', async (t) => {
  const data = Buffer.alloc(4096);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
  t.equal(crc32(data), crc32Table(data));
});
