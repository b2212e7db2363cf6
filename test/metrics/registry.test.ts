import t from 'tap';
import { Registry } from 'prom-client';
import { counter, gauge, histogram } from '../../src/metrics/registry';

t.test('building a component twice on one registry reuses counters and histograms', async (t) => {
  const r = new Registry();
  const a = counter(r, { name: 'shoal_x_total', help: 'x', labelNames: ['k'] });
  a.inc({ k: 'v' }, 2);
  const b = counter(r, { name: 'shoal_x_total', help: 'x', labelNames: ['k'] });
  t.equal(a, b, 'the same counter');
  t.equal(histogram(r, { name: 'shoal_h_seconds', help: 'h' }), histogram(r, { name: 'shoal_h_seconds', help: 'h' }));
  t.match(await r.metrics(), /shoal_x_total\{k="v"\} 2/);
});

t.test('a gauge with a collect callback is replaced, so it reads the new component', async (t) => {
  const r = new Registry();
  let first = 1;
  gauge(r, { name: 'shoal_g', help: 'g', collect() { this.set(first); } });
  const second = 7;
  gauge(r, { name: 'shoal_g', help: 'g', collect() { this.set(second); } });
  first = 3;
  t.match(await r.metrics(), /^shoal_g 7$/m);
  const plain = gauge(r, { name: 'shoal_plain', help: 'p' });
  t.equal(gauge(r, { name: 'shoal_plain', help: 'p' }), plain, 'a plain gauge is reused');
});
