import t from 'tap';
import { reconcileGlobal } from '../../../../src/manager/orchestrator/global/global';
import { reconcileReplicated } from '../../../../src/manager/orchestrator/replicated/replicated';
import { restartsAfter } from '../../../../src/manager/orchestrator/restart/restart-count';
import { reconcileUpdate } from '../../../../src/manager/orchestrator/update/updater';
import type { Task, TaskState } from '../../../../src/model/types';
import { T0, at, fakeDeps, makeNode, makeService, makeTask } from '../../../support/builders';
import { oldTask, walkService } from '../update/walk-fixtures';

const svc = makeService('web');
const withRestarts = (state: TaskState, restarts?: number): Task => ({ ...makeTask('a', svc, { state }), ...(restarts !== undefined && { restarts }) });

t.test('restartsAfter: +1 after a task that ended on its own, carried otherwise', async (t) => {
  const cases: [string, Task | undefined, number][] = [
    ['no task to replace', undefined, 0],
    ['failed, first time', withRestarts('failed'), 1],
    ['failed after 2 restarts', withRestarts('failed', 2), 3],
    ['completed (condition any)', withRestarts('complete', 1), 2],
    ['rejected', withRestarts('rejected', 0), 1],
    ['shut down by shoal: carried', withRestarts('shutdown', 2), 2],
    ['orphaned with its node: carried', withRestarts('orphaned', 2), 2],
    ['evicted while running: carried', withRestarts('running', 4), 4],
  ];
  for (const [name, task, want] of cases) t.equal(restartsAfter(task), want, name);
});

const NOW = T0 + 100_000;
const replacement = (actions: { type: string; task?: Task }[]) => actions.find((a) => a.type === 'create')?.task;

t.test('the orchestrators carry the count into the replacement', async (t) => {
  const nodes = [makeNode('n1'), makeNode('n2')];
  const cases: { name: string; run: () => Task | undefined; want: number | undefined }[] = [
    {
      name: 'replicated: a failed task is replaced with one more restart',
      run: () => replacement(reconcileReplicated({ service: svc, tasks: [{ ...makeTask('a', svc, { state: 'failed' }), restarts: 2 }], nodes, now: NOW }, fakeDeps()).actions),
      want: 3,
    },
    {
      name: 'replicated: a task on a node that went down is moved, count kept',
      run: () =>
        replacement(
          reconcileReplicated(
            { service: svc, tasks: [{ ...makeTask('a', svc), restarts: 2 }], nodes: [makeNode('n1', { status: { state: 'down', since: at(0), message: '' } }), makeNode('n2')], now: NOW },
            fakeDeps(),
          ).actions,
        ),
      want: 2,
    },
    {
      name: 'replicated: a new slot starts at 0',
      run: () => replacement(reconcileReplicated({ service: makeService('web', { replicas: 2 }), tasks: [makeTask('a', svc)], nodes, now: NOW }, fakeDeps()).actions),
      want: undefined,
    },
    {
      name: 'global: a failed task on its node is replaced with one more restart',
      run: () => {
        const g = makeService('g', { mode: 'global' });
        const tasks = [{ ...makeTask('a', g, { slot: 0, nodeId: 'n1', state: 'failed' }), restarts: 1 }, makeTask('b', g, { slot: 0, nodeId: 'n2' })];
        return replacement(reconcileGlobal({ service: g, tasks, nodes, now: NOW }, fakeDeps()).actions);
      },
      want: 2,
    },
    {
      name: 'update: the replacement of a task that restarted starts at 0',
      run: () => {
        const w = walkService({ replicas: 1 });
        const tasks = [{ ...oldTask('a', w, { slot: 1 }), restarts: 5 }];
        return replacement(reconcileUpdate({ service: w, tasks, nodes, now: NOW }, fakeDeps()).actions);
      },
      want: undefined,
    },
  ];
  for (const c of cases) {
    const task = c.run();
    t.ok(task, `${c.name}: a replacement`);
    t.equal(task?.restarts, c.want, c.name);
  }
});
