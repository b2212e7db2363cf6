import t from 'tap';
import { rollbackBlocker, rolledBack, walkConfig, walkPhase } from '../../../../src/manager/orchestrator/update/update-status';
import { InvalidArgumentError } from '../../../../src/errors';
import { T0, at } from '../../../support/builders';
import { DEFAULTS, walkService } from './walk-fixtures';

t.test('walkPhase: only updating and rollback_started walk', async (t) => {
  const states = ['updating', 'rollback_started', 'paused', 'rollback_paused', 'completed', 'rollback_completed'] as const;
  t.same(
    states.map((state) => walkPhase({ state, startedAt: at(0), message: '' })),
    ['update', 'rollback', null, null, null, null],
  );
  t.equal(walkPhase(undefined), null);
});

t.test('walkConfig: the phase’s config, Docker’s defaults when missing', async (t) => {
  const svc = walkService({ update: { parallelism: 4 }, rollback: { parallelism: 7 } });
  t.equal(walkConfig(svc.spec, 'update').parallelism, 4);
  t.equal(walkConfig(svc.spec, 'rollback').parallelism, 7);
  delete svc.spec.updateConfig;
  delete svc.spec.rollbackConfig;
  t.same(walkConfig(svc.spec, 'update'), DEFAULTS);
  t.same(walkConfig(svc.spec, 'rollback'), DEFAULTS);
});

t.test('rolledBack swaps spec and previous spec', async (t) => {
  const svc = walkService();
  const r = rolledBack(svc, T0 + 5_000, 'manually requested rollback');
  t.same(r.spec, svc.previousSpec);
  t.same(r.previousSpec, svc.spec);
  t.equal(r.version, svc.version + 1);
  t.same(r.updateStatus, { state: 'rollback_started', startedAt: at(5_000), message: 'manually requested rollback' });
  t.same(rolledBack(r, T0 + 6_000, 'again').spec, svc.spec, 'a rollback can be rolled back');
});

t.test('nothing to roll back to', async (t) => {
  const svc = walkService({ noPrevious: true });
  t.equal(rollbackBlocker(svc), 'service web has no previous spec to roll back to');
  t.throws(() => rolledBack(svc, T0, 'x'), InvalidArgumentError);
  const dnsrr = walkService();
  dnsrr.endpoint.vipIndex = null;
  t.match(rollbackBlocker(dnsrr), /virtual IP was released/, 'a released VIP cannot come back');
});
