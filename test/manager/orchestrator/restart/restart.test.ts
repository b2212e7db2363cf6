import t from 'tap';
import { decideRestart, restartAttempts } from '../../../../src/manager/orchestrator/restart/restart';
import type { RestartPolicy, TaskState } from '../../../../src/model/types';
import { T0, makeService, makeTask } from '../../../support/builders';
import type { TaskOptions } from '../../../support/builders';

t.test('decides per condition, attempts, window and delay', async (t) => {
  const now = T0 + 100_000;
  const cases: {
    name: string;
    policy: Partial<RestartPolicy>;
    dead: TaskOptions;
    earlier?: TaskOptions[];
    want: ReturnType<typeof decideRestart>;
  }[] = [
    { name: 'any restarts a failure', policy: { condition: 'any' }, dead: { state: 'failed' }, want: { kind: 'restart' } },
    { name: 'any restarts a completion', policy: { condition: 'any' }, dead: { state: 'complete', exitCode: 0 }, want: { kind: 'restart' } },
    { name: 'none gives up', policy: { condition: 'none' }, dead: { state: 'failed' }, want: { kind: 'give-up', reason: 'restart condition is none' } },
    { name: 'on-failure restarts failed', policy: { condition: 'on-failure' }, dead: { state: 'failed' }, want: { kind: 'restart' } },
    { name: 'on-failure restarts rejected', policy: { condition: 'on-failure' }, dead: { state: 'rejected' }, want: { kind: 'restart' } },
    {
      name: 'on-failure restarts a non-zero exit',
      policy: { condition: 'on-failure' },
      dead: { state: 'complete', exitCode: 3 },
      want: { kind: 'restart' },
    },
    {
      name: 'on-failure lets a clean exit be',
      policy: { condition: 'on-failure' },
      dead: { state: 'complete', exitCode: 0 },
      want: { kind: 'give-up', reason: 'task completed and restart condition is on-failure' },
    },
    {
      name: 'stopped by someone else: replaced even with none',
      policy: { condition: 'none' },
      dead: { state: 'shutdown' },
      want: { kind: 'restart' },
    },
    {
      name: 'delay not over: wait until since + delay',
      policy: { delayMs: 5_000 },
      dead: { state: 'failed', since: 98_000 },
      want: { kind: 'wait', atMs: T0 + 103_000 },
    },
    { name: 'delay over', policy: { delayMs: 5_000 }, dead: { state: 'failed', since: 95_000 }, want: { kind: 'restart' } },
    {
      name: 'max attempts reached',
      policy: { maxAttempts: 2 },
      dead: { state: 'failed', since: 99_000 },
      earlier: [{ state: 'failed', since: 10_000 }, { state: 'complete', since: 50_000 }],
      want: { kind: 'give-up', reason: 'restart limit of 2 reached' },
    },
    {
      name: 'max attempts not yet reached',
      policy: { maxAttempts: 3 },
      dead: { state: 'failed', since: 99_000 },
      earlier: [{ state: 'failed', since: 10_000 }, { state: 'failed', since: 50_000 }],
      want: { kind: 'restart' },
    },
    {
      name: 'attempts outside the window do not count',
      policy: { maxAttempts: 2, windowMs: 60_000 },
      dead: { state: 'failed', since: 99_000 },
      earlier: [{ state: 'failed', since: 10_000 }, { state: 'failed', since: 50_000 }],
      want: { kind: 'restart' },
    },
    {
      name: 'tasks shoal stopped and older spec versions are not attempts',
      policy: { maxAttempts: 1 },
      dead: { state: 'failed', since: 99_000, version: 2 },
      earlier: [{ state: 'shutdown' }, { state: 'orphaned' }, { state: 'failed', version: 1 }, { state: 'running', version: 2 }],
      want: { kind: 'restart' },
    },
  ];
  for (const c of cases) {
    const svc = makeService('s', { restart: c.policy });
    const dead = makeTask('dead', svc, { ...c.dead, created: 0 });
    const slot = [dead, ...(c.earlier ?? []).map((o, i) => makeTask(`e${i}`, svc, { desired: 'shutdown', ...o }))];
    t.same(decideRestart(dead, slot, now), c.want, c.name);
  }
});

t.test('counts attempts of the same slot only as given', async (t) => {
  const svc = makeService('s');
  const dead = makeTask('d', svc, { state: 'failed' });
  const states: TaskState[] = ['failed', 'complete', 'rejected', 'shutdown', 'orphaned', 'running'];
  const slot = [dead, ...states.map((s, i) => makeTask(`e${i}`, svc, { state: s }))];
  t.equal(restartAttempts(dead, slot, T0), 3);
});
