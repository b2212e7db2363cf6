import t from 'tap';
import { DecisionTree } from '../../../src/manager/scheduler/decision-tree';
import { NodeInfo } from '../../../src/manager/scheduler/node-info';
import { schedule } from '../../../src/manager/scheduler/scheduler';
import type { Node, Service, Task } from '../../../src/model/types';
import { T0, makeNode, makeService, makeTask } from '../../support/builders';

const NOW = T0 + 60_000;

/** A service spreading over `labels`, outermost first. */
function spreading(id: string, labels: string[], replicas = 10, constraints: string[] = []): Service {
  const s = makeService(id, { replicas, constraints });
  s.spec.task.placement.preferences = labels.map((l) => ({ spread: `node.labels.${l}` }));
  return s;
}

function pending(service: Service, count: number, firstSlot = 1): Task[] {
  return Array.from({ length: count }, (_, i) =>
    makeTask(`${service.id}-${firstSlot + i}`, service, { slot: firstSlot + i, nodeId: '', state: 'pending' }),
  );
}

/** Tasks placed per label value (or per node with `by = 'node'`), in one pass. */
function placed(nodes: Node[], services: Service[], tasks: Task[], by: string): Record<string, number> {
  const r = schedule({ nodes, services, tasks, now: NOW });
  const nodeById = new Map(nodes.map((n) => [n.id, n]));
  const out: Record<string, number> = {};
  for (const d of r.decisions) {
    const key = d.nodeId === null ? 'pending' : by === 'node' ? d.nodeId : nodeById.get(d.nodeId)?.labels[by] ?? '(none)';
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

const zoned = (id: string, zone?: string, rack?: string): Node =>
  makeNode(id, { labels: { ...(zone ? { zone } : {}), ...(rack ? { rack } : {}) } });

t.test('spread divides tasks evenly among label values, whatever the node count per value', async (t) => {
  // 1 node in east, 3 in west: plain spreading would put 3/4 of the tasks in west.
  const nodes = [zoned('e1', 'east'), zoned('w1', 'west'), zoned('w2', 'west'), zoned('w3', 'west')];
  const cases: { name: string; tasks: number; existing?: Task[]; want: Record<string, number> }[] = [
    { name: 'even', tasks: 6, want: { east: 3, west: 3 } },
    { name: 'odd: the tie goes to the smaller value', tasks: 5, want: { east: 3, west: 2 } },
    {
      name: 'existing tasks count: the lighter zone catches up first',
      tasks: 4,
      existing: [makeTask('old-1', spreading('web', ['zone']), { nodeId: 'w1', slot: 90 }), makeTask('old-2', spreading('web', ['zone']), { nodeId: 'w2', slot: 91 })],
      want: { east: 3, west: 1 },
    },
  ];
  for (const c of cases) {
    const web = spreading('web', ['zone']);
    t.same(placed(nodes, [web], [...(c.existing ?? []), ...pending(web, c.tasks)], 'zone'), c.want, c.name);
  }
  const web = spreading('web', ['zone']);
  t.same(placed(nodes, [web], pending(web, 6), 'node'), { e1: 3, w1: 1, w2: 1, w3: 1 }, 'inside a zone, nodes share evenly');
});

t.test('nodes without the label form their own group', async (t) => {
  const nodes = [zoned('a1', 'a'), zoned('a2', 'a'), zoned('b1', 'b'), zoned('x1'), zoned('x2')];
  const web = spreading('web', ['zone']);
  t.same(placed(nodes, [web], pending(web, 9), 'zone'), { '(none)': 3, a: 3, b: 3 });
});

t.test('nested preferences: zones first, then racks inside each zone', async (t) => {
  const nodes = [
    zoned('e-r1-1', 'east', 'r1'),
    zoned('e-r1-2', 'east', 'r1'),
    zoned('e-r1-3', 'east', 'r1'),
    zoned('e-r2-1', 'east', 'r2'),
    zoned('w-r3-1', 'west', 'r3'),
  ];
  const web = spreading('web', ['zone', 'rack']);
  t.same(placed(nodes, [web], pending(web, 8), 'zone'), { east: 4, west: 4 }, 'zones split first');
  t.same(placed(nodes, [web], pending(web, 8), 'rack'), { r1: 2, r2: 2, r3: 4 }, 'then racks within east');
  t.same(
    placed(nodes, [web], pending(web, 8), 'node'),
    { 'e-r1-1': 1, 'e-r1-2': 1, 'e-r2-1': 2, 'w-r3-1': 4 },
    'then nodes within a rack, lowest id first on ties',
  );
  const reversed = spreading('web', ['rack', 'zone']);
  t.same(placed(nodes, [reversed], pending(reversed, 9), 'rack'), { r1: 3, r2: 3, r3: 3 }, 'the order of preferences matters');
});

t.test('a group with no candidate left gives its share to the others', async (t) => {
  const limited = spreading('web', ['zone'], 10);
  limited.spec.task.placement.maxReplicas = 1;
  const nodes = [zoned('e1', 'east'), zoned('w1', 'west'), zoned('w2', 'west'), zoned('w3', 'west')];
  t.same(placed(nodes, [limited], pending(limited, 6), 'zone'), { east: 1, west: 3, pending: 2 }, 'east fills at one, west takes the rest');

  const constrained = spreading('web', ['zone'], 10, ['node.labels.zone!=east']);
  t.same(placed(nodes, [constrained], pending(constrained, 6), 'zone'), { west: 6 }, 'a zone the constraints exclude takes nothing');

  const paused = [makeNode('e1', { labels: { zone: 'east' }, availability: 'pause' }), zoned('w1', 'west')];
  const web = spreading('web', ['zone']);
  const existing = [makeTask('keep', web, { nodeId: 'e1', slot: 99 })];
  t.same(
    placed(paused, [web], [...existing, ...pending(web, 3)], 'zone'),
    { west: 3 },
    'tasks on a paused node still weigh on its zone, but the zone cannot take more',
  );
});

t.test('several spec versions of one service spread as one', async (t) => {
  const v1 = spreading('web', ['zone']);
  const v2 = { ...spreading('web', ['zone']), version: 2 };
  const nodes = [zoned('e1', 'east'), zoned('w1', 'west')];
  const tasks = [...pending(v1, 3), ...pending(v2, 3, 10).map((x) => ({ ...x, specVersion: 2 }))];
  t.same(placed(nodes, [v2], tasks, 'zone'), { east: 3, west: 3 });
});

t.test('the tree hands out nodes and takes them back', async (t) => {
  const infos = [zoned('e1', 'east'), zoned('e2', 'east'), zoned('w1', 'west')].map((n) => new NodeInfo(n));
  const tree = new DecisionTree({ serviceId: 'web', labels: ['zone'], nodes: infos, accepts: (i) => i.id !== 'e2', failureKey: '' });
  const first = tree.next();
  t.equal(first?.id, 'e1', 'east first: equal tasks, smaller value');
  tree.placed(first as NodeInfo, false);
  const second = tree.next();
  t.equal(second?.id, 'w1', 'east has no candidate left');
  tree.placed(second as NodeInfo, false);
  t.equal(tree.next(), undefined, 'nothing left');
  t.throws(() => tree.placed(infos[0], true), RangeError, 'placed without next');

  const flat = new DecisionTree({ serviceId: 'web', labels: [], nodes: [], accepts: () => true, failureKey: '' });
  t.equal(flat.next(), undefined, 'no nodes at all');
});
