import t from 'tap';
import { Registry } from 'prom-client';
import { registerNativeStatus } from '../../src/native/native-metrics';
import type { NativeStatus } from '../../src/native/native';

t.test('one series per status, 1 on the current one', async (t) => {
  const cases: NativeStatus[] = ['loaded', 'disabled', 'missing', 'failed'];
  for (const current of cases) {
    const registry = new Registry();
    registerNativeStatus(registry, { addon: null, status: current, reason: 'test' });
    const { values } = await registry.getSingleMetric('shoal_native_addon_status')!.get();
    const byStatus = Object.fromEntries(values.map((v) => [v.labels.status, v.value]));
    t.same(byStatus, Object.fromEntries(cases.map((s) => [s, s === current ? 1 : 0])), current);
  }
});

t.test('registering twice on one registry is fine and follows the latest load', async (t) => {
  const registry = new Registry();
  registerNativeStatus(registry, { addon: null, status: 'missing', reason: 'x' });
  registerNativeStatus(registry, { addon: null, status: 'disabled', reason: 'y' });
  const { values } = await registry.getSingleMetric('shoal_native_addon_status')!.get();
  t.equal(values.find((v) => v.labels.status === 'disabled')?.value, 1);
  t.equal(values.find((v) => v.labels.status === 'missing')?.value, 0);
});
