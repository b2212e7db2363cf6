import t from 'tap';
import { ASSIGNED_MESSAGE, schedule } from '../../../src/manager/scheduler/scheduler';
import type { Node, Service, Task } from '../../../src/model/types';
import { T0, at, makeNode, makeService, makeTask } from '../../support/builders';

const NOW = T0 + 60_000;

/** A task waiting for the scheduler, as the orchestrator creates it. */
function pending(id: string, service: Service, slot = 1, message = 'pending task scheduling'): Task {
  const pendingReason = message === 'pending task scheduling' ? 'scheduling' : 'no-suitable-node';
  return makeTask(id, service, { slot, nodeId: '', state: 'pending', message, pendingReason });
}

function placements(tasks: Task[], nodes: Node[], services: Service[]) {
  const r = schedule({ nodes, services, tasks, now: NOW });
  const byNode: Record<string, number> = {};
  for (const d of r.decisions) if (d.nodeId) byNode[d.nodeId] = (byNode[d.nodeId] ?? 0) + 1;
  return { r, byNode };
}

t.test('spreads one call’s tasks evenly: 6 over 3 nodes is 2/2/2', async (t) => {
  const web = makeService('web', { replicas: 6 });
  const tasks = [1, 2, 3, 4, 5, 6].map((s) => pending(`w${s}`, web, s));
  const nodes = [makeNode('n1'), makeNode('n2'), makeNode('n3')];
  const { r, byNode } = placements(tasks, nodes, [web]);
  t.same(byNode, { n1: 2, n2: 2, n3: 2 });
  t.equal(r.actions.length, 6);
  for (const a of r.actions) {
    t.equal(a.type, 'update');
    if (a.type !== 'update') continue;
    t.equal(a.task.status.state, 'assigned');
    t.equal(a.task.status.message, ASSIGNED_MESSAGE);
    t.equal(a.task.status.since, new Date(NOW).toISOString());
    t.equal(a.task.updatedAt, new Date(NOW).toISOString());
    t.ok(a.task.nodeId);
  }
});

t.test('strategy: fewest of this service, then fewest overall, then node id', async (t) => {
  const web = makeService('web', { replicas: 3 });
  const db = makeService('db', { replicas: 3 });
  const cases: { name: string; existing: Task[]; want: string[] }[] = [
    { name: 'empty cluster: lowest id first', existing: [], want: ['n1'] },
    {
      name: 'fewest tasks in all breaks the tie between nodes without web',
      existing: [makeTask('d1', db, { nodeId: 'n1' }), makeTask('d2', db, { nodeId: 'n1', slot: 2 }), makeTask('d3', db, { nodeId: 'n2', slot: 3 })],
      want: ['n3'],
    },
    {
      name: 'fewest of the service wins over fewest in all',
      existing: [
        makeTask('w1', web, { nodeId: 'n3' }),
        makeTask('d1', db, { nodeId: 'n1' }),
        makeTask('d2', db, { nodeId: 'n1', slot: 2 }),
        makeTask('d3', db, { nodeId: 'n2', slot: 3 }),
        makeTask('d4', db, { nodeId: 'n2', slot: 4 }),
        makeTask('d5', db, { nodeId: 'n2', slot: 5 }),
      ],
      want: ['n1'],
    },
    {
      name: 'terminal and stopping tasks are not load',
      existing: [
        makeTask('w1', web, { nodeId: 'n1', state: 'failed' }),
        makeTask('w2', web, { nodeId: 'n1', slot: 2, state: 'running', desired: 'shutdown' }),
        makeTask('d1', db, { nodeId: 'n2' }),
        makeTask('d2', db, { nodeId: 'n3' }),
      ],
      want: ['n1'],
    },
  ];
  const nodes = [makeNode('n3'), makeNode('n1'), makeNode('n2')];
  for (const c of cases) {
    const r = schedule({ nodes, services: [web, db], tasks: [...c.existing, pending('new', web, 9)], now: NOW });
    t.same(
      r.decisions.map((d) => d.nodeId),
      c.want,
      c.name,
    );
  }
});

t.test('a task nothing fits stays pending with the reason as its message', async (t) => {
  const web = makeService('web', { constraints: ['node.labels.zone==east'] });
  const nodes = [
    makeNode('n1', { availability: 'drain', labels: { zone: 'east' } }),
    makeNode('n2', { status: { state: 'down', since: at(0), message: '' } }),
    makeNode('n3', { labels: { zone: 'west' } }),
  ];
  const why = 'no suitable node (1 node not ready; 1 node not available for new tasks; 1 node did not satisfy constraints)';
  const task = pending('w1', web);
  const r = schedule({ nodes, services: new Map([[web.id, web]]), tasks: [task], now: NOW });
  t.same(r.decisions, [{ taskId: 'w1', nodeId: null, reason: why }]);
  t.equal(r.actions.length, 1);
  const a = r.actions[0];
  t.equal(a.type, 'update');
  if (a.type === 'update') {
    t.equal(a.task.status.state, 'pending');
    t.equal(a.task.status.message, why);
    t.equal(a.task.status.pendingReason, 'no-suitable-node', 'the reason as a code too');
    t.equal(a.task.status.since, task.status.since, 'still pending since the same time');
    t.equal(a.task.nodeId, '');
  }

  const again = schedule({ nodes, services: [web], tasks: [pending('w1', web, 1, why)], now: NOW });
  t.equal(again.actions.length, 0, 'no write when the message is already there');
  t.equal(again.decisions[0].nodeId, null);

  const empty = schedule({ nodes: [], services: [web], tasks: [pending('w1', web)], now: NOW });
  t.equal(empty.decisions[0].reason, 'no suitable node');
});

t.test('host-mode ports: one task per node and port', async (t) => {
  const web = makeService('web', {
    replicas: 3,
    ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' }],
  });
  const other = makeService('other', { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' }] });
  const nodes = [makeNode('n1'), makeNode('n2')];
  const tasks = [
    makeTask('o1', other, { nodeId: 'n1' }),
    makeTask('o2', other, { nodeId: 'n2', state: 'complete', desired: 'shutdown' }),
    pending('w1', web, 1),
    pending('w2', web, 2),
  ];
  const r = schedule({ nodes, services: [web, other], tasks, now: NOW });
  t.same(r.decisions, [
    { taskId: 'w1', nodeId: 'n2' },
    { taskId: 'w2', nodeId: null, reason: 'no suitable node (2 nodes had no port 8080/tcp free)' },
  ]);

  const stopping = [makeTask('o1', other, { nodeId: 'n1', desired: 'shutdown' }), pending('w1', web)];
  t.same(
    schedule({ nodes: [makeNode('n1')], services: [web, other], tasks: stopping, now: NOW }).decisions[0].nodeId,
    null,
    'a task being stopped still holds its port',
  );
});

t.test('tasks born on a node (global) are assigned when that node takes them', async (t) => {
  const agent = makeService('agent', { mode: 'global', constraints: ['node.role==worker'] });
  const nodes = [
    makeNode('n1'),
    makeNode('n2', { availability: 'pause' }),
    makeNode('n3', { role: 'manager' }),
    makeNode('n4', { status: { state: 'down', since: at(0), message: '' } }),
  ];
  const tasks = ['n1', 'n2', 'n3', 'n4', 'gone'].map((n) => makeTask(`a-${n}`, agent, { slot: 0, nodeId: n, state: 'pending' }));
  const r = schedule({ nodes, services: [agent], tasks, now: NOW });
  t.same(r.decisions, [
    { taskId: 'a-n1', nodeId: 'n1' },
    { taskId: 'a-n2', nodeId: null, reason: 'no suitable node (1 node not available for new tasks)' },
    { taskId: 'a-n3', nodeId: null, reason: 'no suitable node (1 node did not satisfy constraints)' },
    { taskId: 'a-n4', nodeId: null, reason: 'no suitable node (1 node not ready)' },
    { taskId: 'a-gone', nodeId: null, reason: 'no suitable node (node gone is not in the cluster)' },
  ]);
  const assigned = r.actions.find((a) => a.type === 'update' && a.task.id === 'a-n1');
  t.ok(assigned && assigned.type === 'update' && assigned.task.status.state === 'assigned');
});

t.test('leaves alone what is not waiting to be scheduled', async (t) => {
  const web = makeService('web', { replicas: 3 });
  const tasks = [
    makeTask('running', web, { nodeId: 'n1' }),
    makeTask('stopping', web, { nodeId: '', state: 'pending', desired: 'shutdown' }),
    makeTask('orphan-of-deleted', makeService('gone'), { nodeId: '', state: 'pending' }),
  ];
  const r = schedule({ nodes: [makeNode('n1')], services: [web], tasks, now: NOW });
  t.same(r.actions, []);
  t.same(r.decisions, [{ taskId: 'orphan-of-deleted', nodeId: null, reason: 'service not found' }]);
});

t.test('each spec version is placed with its own constraints', async (t) => {
  const v1 = makeService('web', { replicas: 2, constraints: ['node.labels.zone==east'] });
  const v2 = makeService('web', { replicas: 2, version: 2, constraints: ['node.labels.zone==west'] });
  const nodes = [makeNode('e', { labels: { zone: 'east' } }), makeNode('w', { labels: { zone: 'west' } })];
  const tasks = [pending('old', v1, 1), { ...pending('new', v2, 2) }];
  const r = schedule({ nodes, services: [v2], tasks, now: NOW });
  t.same(r.decisions, [
    { taskId: 'old', nodeId: 'e' },
    { taskId: 'new', nodeId: 'w' },
  ]);
});

t.test('input order does not change the outcome', async (t) => {
  const a = makeService('a', { replicas: 4 });
  const b = makeService('b', { replicas: 4 });
  const tasks = [...[1, 2, 3, 4].map((s) => pending(`a${s}`, a, s)), ...[1, 2, 3, 4].map((s) => pending(`b${s}`, b, s))];
  const nodes = [makeNode('n1'), makeNode('n2'), makeNode('n3')];
  const forward = schedule({ nodes, services: [a, b], tasks, now: NOW });
  const backward = schedule({ nodes: [...nodes].reverse(), services: [b, a], tasks: [...tasks].reverse(), now: NOW });
  const sorted = (r: typeof forward) => [...r.decisions].sort((x, y) => (x.taskId < y.taskId ? -1 : 1));
  t.same(sorted(backward), sorted(forward));
  const load: Record<string, number> = {};
  for (const d of forward.decisions) load[d.nodeId as string] = (load[d.nodeId as string] ?? 0) + 1;
  t.same(Object.values(load).sort(), [2, 3, 3], 'total load spreads too');
});

const MiB = 1024 * 1024;

t.test('reservations: one pass fills nodes up to their resources, then explains', async (t) => {
  const web = makeService('web', { replicas: 5 });
  web.spec.task.resources = { reservations: { memoryBytes: 512 * MiB, nanoCpus: 0.5e9 } };
  const nodes = [
    makeNode('n1', { resources: { nanoCpus: 4e9, memoryBytes: 1024 * MiB } }),
    makeNode('n2', { resources: { nanoCpus: 1e9, memoryBytes: 4096 * MiB } }),
    makeNode('n3', { resources: { nanoCpus: 4e9, memoryBytes: 256 * MiB } }),
  ];
  const tasks = [1, 2, 3, 4, 5].map((s) => pending(`w${s}`, web, s));
  const r = schedule({ nodes, services: [web], tasks, now: NOW });
  t.same(r.decisions, [
    { taskId: 'w1', nodeId: 'n1' },
    { taskId: 'w2', nodeId: 'n2' },
    { taskId: 'w3', nodeId: 'n1' },
    { taskId: 'w4', nodeId: 'n2' },
    { taskId: 'w5', nodeId: null, reason: 'no suitable node (2 nodes lacked 512MiB memory; 1 node lacked 0.5 CPUs)' },
  ]);

  const db = makeService('db');
  db.spec.task.resources = { reservations: { memoryBytes: 768 * MiB } };
  const held = [makeTask('d1', db, { nodeId: 'n1', state: 'running', desired: 'shutdown' })];
  const one = schedule({ nodes: [nodes[0]], services: [web, db], tasks: [...held, pending('w1', web)], now: NOW });
  t.same(one.decisions[0].reason, 'no suitable node (1 node lacked 512MiB memory)', 'a stopping task still holds its reservation');
});

t.test('max replicas per node: fills every node up to the limit, then explains', async (t) => {
  const web = makeService('web', { replicas: 7 });
  web.spec.task.placement.maxReplicas = 2;
  const nodes = [makeNode('n1'), makeNode('n2'), makeNode('n3', { availability: 'drain' })];
  const tasks = [makeTask('old', web, { nodeId: 'n1', slot: 1 }), ...[2, 3, 4, 5, 6].map((s) => pending(`w${s}`, web, s))];
  const { r, byNode } = placements(tasks, nodes, [web]);
  t.same(byNode, { n1: 1, n2: 2 });
  const why = 'no suitable node (2 nodes had max replicas per node limit exceeded; 1 node not available for new tasks)';
  t.same(
    r.decisions.filter((d) => d.nodeId === null).map((d) => d.reason),
    [why, why],
  );
});

t.test('node avoidance: a node the service failed on 5 times in 5 minutes goes last', async (t) => {
  const web = makeService('web', { replicas: 3 });
  const failures = (node: string, n: number, o: { ageMs?: number; version?: number; state?: 'failed' | 'rejected' | 'complete' } = {}) =>
    Array.from({ length: n }, (_, i) =>
      makeTask(`f-${node}-${i}`, web, {
        nodeId: node,
        slot: 1,
        state: o.state ?? 'failed',
        desired: 'shutdown',
        since: NOW - T0 - (o.ageMs ?? 1_000),
        version: o.version,
      }),
    );
  const nodes = [makeNode('n1'), makeNode('n2')];
  const cases: { name: string; history: Task[]; tasks?: number; want: (string | null)[] }[] = [
    { name: 'no failures: lowest id', history: [], want: ['n1'] },
    { name: 'four failures are not enough', history: failures('n1', 4), want: ['n1'] },
    { name: 'five failures: avoided', history: failures('n1', 5), want: ['n2'] },
    { name: 'rejections count too', history: failures('n1', 5, { state: 'rejected' }), want: ['n2'] },
    { name: 'completions do not', history: failures('n1', 5, { state: 'complete' }), want: ['n1'] },
    { name: 'failures older than 5 minutes do not count', history: failures('n1', 5, { ageMs: 5 * 60_000 }), want: ['n1'] },
    { name: 'failures 1 ms inside the window do', history: failures('n1', 5, { ageMs: 5 * 60_000 - 1 }), want: ['n2'] },
    { name: 'failures of an older spec version do not count', history: failures('n1', 5, { version: 0 }), want: ['n1'] },
    {
      name: 'avoided, not excluded: used when no other node remains',
      history: [...failures('n1', 5), ...failures('n2', 6)],
      want: ['n1'],
    },
    { name: 'spreading never beats avoidance', history: failures('n1', 5), tasks: 3, want: ['n2', 'n2', 'n2'] },
  ];
  for (const c of cases) {
    const count = c.tasks ?? 1;
    const tasks = [...c.history, ...Array.from({ length: count }, (_, i) => pending(`new-${i}`, web, i + 1))];
    const r = schedule({ nodes, services: [web], tasks, now: NOW });
    t.same(
      r.decisions.map((d) => d.nodeId),
      c.want,
      c.name,
    );
  }
  const other = makeService('other');
  const r = schedule({ nodes, services: [web, other], tasks: [...failures('n1', 5), pending('o', other)], now: NOW });
  t.equal(r.decisions[0].nodeId, 'n1', 'another service is not affected');
});

t.test('bound (global) tasks: reservations are checked and accounted', async (t) => {
  const agent = makeService('agent', { mode: 'global' });
  agent.spec.task.resources = { reservations: { memoryBytes: 600 * MiB } };
  const probe = makeService('probe', { mode: 'global' });
  probe.spec.task.resources = { reservations: { memoryBytes: 600 * MiB } };
  const nodes = [makeNode('n1', { resources: { nanoCpus: 1e9, memoryBytes: 1024 * MiB } })];
  const tasks = [
    makeTask('a', agent, { slot: 0, nodeId: 'n1', state: 'pending' }),
    makeTask('p', probe, { slot: 0, nodeId: 'n1', state: 'pending' }),
  ];
  const r = schedule({ nodes, services: [agent, probe], tasks, now: NOW });
  t.same(r.decisions, [
    { taskId: 'a', nodeId: 'n1' },
    { taskId: 'p', nodeId: null, reason: 'no suitable node (1 node lacked 600MiB memory)' },
  ], 'a waiting task does not hold its own reservation; an assigned one does');
});
