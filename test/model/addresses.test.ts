/** Where a cluster's VIPs start: loopback clusters side by side on one host get blocks of their own. */
import t from 'tap';
import { firstVipIndex, vipAddress } from '../../src/model/addresses';

t.test('the first VIP index follows the manager address block', async (t) => {
  const cases: [string, number][] = [
    ['127.0.1.1:2377', 257],
    ['127.0.73.1:2377', 73 * 256 + 1],
    ['127.0.127.4', 127 * 256 + 1],
    ['127.0.128.1:2377', 1],
    ['127.0.0.1:2377', 1],
    ['10.1.0.1:2377', 1],
    ['manager.example:2377', 1],
  ];
  for (const [addr, want] of cases) t.equal(firstVipIndex(addr), want, addr);
});

t.test('two clusters on one host: their first 255 VIPs never meet', async (t) => {
  const vips = (addr: string) => new Set(Array.from({ length: 255 }, (_, i) => vipAddress(1, firstVipIndex(addr) + i)));
  const a = vips('127.0.1.1:2377');
  const b = vips('127.0.73.1:2377');
  t.equal([...a].filter((v) => b.has(v)).length, 0);
  t.equal(vipAddress(1, firstVipIndex('127.0.1.1:2377')), '127.21.1.1', "shoal up's first VIP");
});
