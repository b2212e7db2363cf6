import t from 'tap';
import { reconcileGlobal } from '../../../../src/manager/orchestrator/global/global';
import type { Node, RestartPolicy, Task } from '../../../../src/model/types';
import { T0, at, fakeDeps, makeNode, makeService, makeTask } from '../../../support/builders';
import type { ServiceOptions, TaskOptions } from '../../../support/builders';
import { summarize } from '../../fixtures/action-summary';

const NOW = T0 + 100_000;
const down = { state: 'down' as const, since: at(0), message: '' };
const unknown = { state: 'unknown' as const, since: at(0), message: '' };

interface Case {
  name: string;
  service?: ServiceOptions;
  restart?: Partial<RestartPolicy>;
  nodes: Node[];
  /** Tasks as [id, node, options]; slot 0. */
  tasks: [string, string, TaskOptions?][];
  historyLimit?: number;
  want: string[];
  wake?: number;
}

const cases: Case[] = [
  {
    name: 'a new service gets one task per node, bound to it',
    nodes: [makeNode('n2'), makeNode('n1')],
    tasks: [],
    want: ['create new-1 slot=0 node=n1 pending', 'create new-2 slot=0 node=n2 pending'],
  },
  {
    name: 'a node that joined later gets its task',
    nodes: [makeNode('n1'), makeNode('n2')],
    tasks: [['a', 'n1']],
    want: ['create new-1 slot=0 node=n2 pending'],
  },
  {
    name: 'steady state writes nothing',
    nodes: [makeNode('n1'), makeNode('n2')],
    tasks: [
      ['a', 'n1'],
      ['b', 'n2', { state: 'assigned' }],
    ],
    want: [],
  },
  {
    name: 'drained node: its task is asked to stop, not replaced',
    nodes: [makeNode('n1'), makeNode('n2', { availability: 'drain' })],
    tasks: [
      ['a', 'n1'],
      ['b', 'n2'],
    ],
    want: ['update b desired=shutdown running'],
  },
  {
    name: 'down node: its task is orphaned',
    nodes: [makeNode('n1', { status: down })],
    tasks: [['a', 'n1']],
    want: ['update a desired=shutdown orphaned'],
  },
  {
    name: 'removed node: same as down',
    nodes: [],
    tasks: [['a', 'gone']],
    want: ['update a desired=shutdown orphaned'],
  },
  {
    name: 'constraints: only matching nodes get tasks; a node that stopped matching loses its task',
    service: { constraints: ['node.role==worker'] },
    nodes: [makeNode('m1', { role: 'manager' }), makeNode('w1'), makeNode('w2')],
    tasks: [['a', 'm1']],
    want: ['create new-1 slot=0 node=w1 pending', 'create new-2 slot=0 node=w2 pending', 'update a desired=shutdown running'],
  },
  {
    name: 'paused and unknown nodes keep their tasks but get no new ones',
    nodes: [makeNode('p1', { availability: 'pause' }), makeNode('p2', { availability: 'pause' }), makeNode('u1', { status: unknown })],
    tasks: [['a', 'p1']],
    want: [],
  },
  {
    name: 'a node drained and made active again gets a fresh task',
    nodes: [makeNode('n1')],
    tasks: [['a', 'n1', { state: 'shutdown', desired: 'shutdown' }]],
    want: ['create new-1 slot=0 node=n1 pending'],
  },
  {
    name: 'dead task: restarted on the same node',
    nodes: [makeNode('n1')],
    tasks: [['a', 'n1', { state: 'failed' }]],
    want: ['create new-1 slot=0 node=n1 pending', 'update a desired=shutdown failed'],
  },
  {
    name: 'dead task, condition none: let go and not replaced later',
    restart: { condition: 'none' },
    nodes: [makeNode('n1'), makeNode('n2')],
    tasks: [
      ['a', 'n1', { state: 'complete' }],
      ['b', 'n2', { state: 'complete', desired: 'shutdown' }],
    ],
    want: ['update a desired=shutdown complete'],
  },
  {
    name: 'dead task, delay not over: wait',
    restart: { delayMs: 10_000 },
    nodes: [makeNode('n1')],
    tasks: [['a', 'n1', { state: 'failed', since: 95_000 }]],
    want: [],
    wake: T0 + 105_000,
  },
  {
    name: 'dead task on a paused node waits for the node',
    nodes: [makeNode('n1', { availability: 'pause' })],
    tasks: [['a', 'n1', { state: 'failed' }]],
    want: [],
  },
  {
    name: 'dead task on a drained node is let go',
    nodes: [makeNode('n1', { availability: 'drain' })],
    tasks: [['a', 'n1', { state: 'failed' }]],
    want: ['update a desired=shutdown failed'],
  },
  {
    name: 'an unassigned task of a node that left is shut down at once',
    nodes: [makeNode('n1', { availability: 'drain' })],
    tasks: [['a', 'n1', { state: 'pending' }]],
    want: ['update a desired=shutdown shutdown'],
  },
  {
    name: 'two tasks on one node: the one further along stays',
    nodes: [makeNode('n1')],
    tasks: [
      ['a', 'n1', { created: 1, state: 'running' }],
      ['b', 'n1', { created: 2, state: 'pending' }],
    ],
    want: ['update b desired=shutdown shutdown'],
  },
  {
    name: 'history is kept per node',
    historyLimit: 1,
    nodes: [makeNode('n1'), makeNode('n2')],
    tasks: [
      ['a', 'n1'],
      ['h1', 'n1', { created: 1, state: 'failed', desired: 'shutdown' }],
      ['h2', 'n1', { created: 2, state: 'failed', desired: 'shutdown' }],
      ['b', 'n2'],
      ['h3', 'n2', { created: 3, state: 'failed', desired: 'shutdown' }],
    ],
    want: ['delete h1'],
  },
];

t.test('reconcileGlobal', async (t) => {
  for (const c of cases) {
    const svc = makeService('agent', { mode: 'global', ...c.service, restart: c.restart });
    const tasks: Task[] = c.tasks.map(([id, nodeId, o]) => makeTask(id, svc, { slot: 0, nodeId, ...o }));
    const r = reconcileGlobal({ service: svc, tasks, nodes: c.nodes, now: NOW, historyLimit: c.historyLimit }, fakeDeps());
    t.same(summarize(r), c.want, c.name);
    t.equal(r.nextWakeMs, c.wake, `${c.name}: nextWakeMs`);
  }
});

t.test('a node handed over by a start-first update', async (t) => {
  const svc = makeService('agent', { mode: 'global' });
  const old = makeTask('a', svc, { slot: 0, nodeId: 'n1', created: 1 });
  old.spec = { ...old.spec, command: ['node', 'old.js'] };
  const pass = (tasks: Task[]) => summarize(reconcileGlobal({ service: svc, tasks, nodes: [makeNode('n1')], now: NOW }, fakeDeps()));
  t.same(pass([old, makeTask('b', svc, { slot: 0, nodeId: 'n1', created: 2, state: 'starting' })]), [], 'both stay while the new one starts');
  t.same(pass([old, makeTask('b', svc, { slot: 0, nodeId: 'n1', created: 2 })]), ['update a desired=shutdown running'], 'then the old one goes');
});
