/**
 * The control socket belongs to the daemon that listens on it: a second
 * daemon started on the same socket is refused with SHOAL_ERR_DAEMON_RUNNING,
 * and stopping that second daemon leaves the first one's socket in place.
 * Real daemons (no swarm) on 127.0.70.x.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import t from 'tap';
import { ApiClient } from '../../src/api/client';
import type { Info } from '../../src/api/contract';
import { Daemon } from '../../src/daemon/daemon';
import type { DaemonOptions } from '../../src/daemon/daemon-options';

const deps = { logger: pino({ level: 'silent' }), now: Date.now };

function options(address: string, stateDir: string, socketPath: string): DaemonOptions {
  return { address, stateDir, socketPath, hostname: `node-${address}`, labels: {}, dnsPort: 5370, metricsPort: 9370, apiPort: 4370, heartbeatMs: 1000, init: false, dataplane: 'userspace' };
}

t.test('a second daemon on a live socket is refused and leaves it to the first', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shoal-daemon-socket-'));
  const socketPath = path.join(dir, 'shoal.sock');
  const first = new Daemon(deps, options('127.0.70.1', path.join(dir, 'a'), socketPath));
  const second = new Daemon(deps, options('127.0.70.2', path.join(dir, 'b'), socketPath));
  t.teardown(async () => {
    await second.stop();
    await first.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await first.start();
  await t.rejects(second.start(), { code: 'SHOAL_ERR_DAEMON_RUNNING' }, 'the second daemon is refused');
  await second.stop();
  const client = new ApiClient({ kind: 'unix', path: socketPath });
  t.teardown(() => client.close());
  const info = await client.call<Info>('GET', '/v1/info');
  t.equal(info.address, '127.0.70.1', 'the first daemon still answers on its socket');
});
