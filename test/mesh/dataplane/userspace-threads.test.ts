/**
 * The compliance suite on the native TCP relay with two worker threads:
 * connections land on either thread, and the rules (round-robin, draining,
 * half-closes, resets) hold across them. Skipped only where the addon is not
 * built; the fallback suites cover such a machine.
 */
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { loadNative } from '../../../src/native/native';
import { UserspaceDataplane } from '../../../src/mesh/dataplane/userspace/userspace-dataplane';
import { dataplaneCompliance } from './dataplane-compliance';

if (!loadNative()) {
  t.test('native TCP relay with two threads', { skip: 'native addon not loaded: the relay threads need it' }, () => undefined);
} else {
  dataplaneCompliance(
    t,
    () => new UserspaceDataplane({ logger: pino({ level: 'silent' }), registry: new Registry() }, { threads: 2 }),
    { activeConnections: (dp) => dp.frontends().reduce((sum, f) => sum + f.active, 0) },
  );
}
