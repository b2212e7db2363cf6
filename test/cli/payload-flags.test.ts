import t from 'tap';
import { applyPayloadCreateFlags, applyPayloadUpdateFlags } from '../../src/cli/payload-flags';
import type { ServiceSpec } from '../../src/model/types';

const base = (): ServiceSpec => ({ name: 'web', labels: {}, mode: 'replicated', replicas: 1, task: { command: ['x'], env: {}, restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 }, placement: { constraints: [] }, stopGracePeriodMs: 0 }, endpoint: { mode: 'vip', ports: [] } });

t.test('service create --secret and --config', async (t) => {
  const spec = base();
  applyPayloadCreateFlags(spec, { secret: ['db', 'source=api,target=key,mode=0400'], config: ['source=app,target=/etc/app.conf'] });
  t.same(spec.task.secrets?.map((r) => [r.name, r.file.target, r.file.mode]), [['db', 'db', 0o444], ['api', 'key', 0o400]]);
  t.same(spec.task.configs?.map((r) => r.file.target), ['/etc/app.conf']);
  const none = base();
  applyPayloadCreateFlags(none, {});
  t.notOk('secrets' in none.task);
});

t.test('service update --secret-rm then --secret-add (Docker rotation)', async (t) => {
  const spec = base();
  spec.task.secrets = [{ id: 'id1', name: 'db-v1', file: { target: 'db', mode: 0o444 } }];
  applyPayloadUpdateFlags(spec, { secretRm: ['db-v1'], secretAdd: ['source=db-v2,target=db'] });
  t.same(spec.task.secrets, [{ id: '', name: 'db-v2', file: { target: 'db', mode: 0o444 } }]);
  applyPayloadUpdateFlags(spec, { secretRm: ['db-v2'] });
  t.notOk('secrets' in spec.task, 'the last one removed: no field');
  t.throws(() => applyPayloadUpdateFlags(spec, { configRm: ['app'] }), /config app is not used by this service/);
});
