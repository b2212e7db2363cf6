import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { UserspaceDataplane } from '../../../src/mesh/dataplane/userspace/userspace-dataplane';
import { dataplaneCompliance } from './dataplane-compliance';

dataplaneCompliance(t, () => new UserspaceDataplane({ logger: pino({ level: 'silent' }), registry: new Registry() }), {
  activeConnections: (dp) => dp.frontends().reduce((sum, f) => sum + f.active, 0),
});
