import t from 'tap';
import { reconcileRemoved } from '../../../src/manager/orchestrator/removed';
import { T0, at, makeNode, makeService, makeTask } from '../../support/builders';
import { summarize } from '../fixtures/action-summary';

t.test('a removed service’s tasks are stopped, then deleted once finished', async (t) => {
  const svc = makeService('gone');
  const tasks = [
    makeTask('running', svc, { nodeId: 'n1' }),
    makeTask('stopping', svc, { nodeId: 'n1', desired: 'shutdown' }),
    makeTask('unassigned', svc, { nodeId: '', state: 'pending' }),
    makeTask('finished', svc, { nodeId: 'n1', state: 'shutdown', desired: 'shutdown' }),
    makeTask('dead', svc, { nodeId: 'n1', state: 'failed' }),
    makeTask('on-down-node', svc, { nodeId: 'n2' }),
  ];
  const nodes = [makeNode('n1'), makeNode('n2', { status: { state: 'down', since: at(0), message: '' } })];

  t.same(summarize(reconcileRemoved(tasks, T0, nodes)), [
    'update running desired=shutdown running',
    'delete unassigned',
    'delete finished',
    'delete dead',
    'delete on-down-node',
  ]);
  t.same(
    summarize(reconcileRemoved(tasks, T0)),
    [
      'update running desired=shutdown running',
      'update on-down-node desired=shutdown running',
      'delete unassigned',
      'delete finished',
      'delete dead',
    ],
    'without nodes nothing is orphaned',
  );
  t.same(reconcileRemoved([], T0), { actions: [] });
});
