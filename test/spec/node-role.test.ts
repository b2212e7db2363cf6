import t from 'tap';
import { alreadyInRole, decideRoleChange } from '../../src/spec/node-role';
import type { Node, NodeRole } from '../../src/model/types';
import { makeNode } from '../support/builders';

const manager = makeNode('m1', { hostname: 'node-1', role: 'manager' });
const worker = makeNode('w2', { hostname: 'node-2' });
const otherManager = makeNode('m3', { hostname: 'node-3', role: 'manager' });

t.test('role changes: what this version allows (nothing but no-ops) and why', async (t) => {
  const cases: { name: string; nodes: Node[]; node: Node; role: NodeRole; want: { outcome: string; message?: string; code?: string } }[] = [
    { name: 'promote a manager', nodes: [manager, worker], node: manager, role: 'manager', want: { outcome: 'unchanged', message: 'Node node-1 is already a manager.' } },
    { name: 'demote a worker', nodes: [manager, worker], node: worker, role: 'worker', want: { outcome: 'unchanged', message: 'Node node-2 is already a worker.' } },
    {
      name: 'promote a worker',
      nodes: [manager, worker],
      node: worker,
      role: 'manager',
      want: {
        outcome: 'refused',
        code: 'SHOAL_ERR_REPLICATED_STORE_REQUIRED',
        message:
          "cannot promote node-2: this cluster keeps its state in one manager's embedded store; more managers need a replicated store (etcd): start every manager with --store etcd://... (see shoal daemon --help)",
      },
    },
    {
      name: 'demote the only manager',
      nodes: [manager, worker],
      node: manager,
      role: 'worker',
      want: { outcome: 'refused', code: 'SHOAL_ERR_LAST_MANAGER', message: 'cannot demote node-1: it is the only manager; the cluster would have none' },
    },
    {
      name: 'demote the only manager of a one-node cluster',
      nodes: [manager],
      node: manager,
      role: 'worker',
      want: { outcome: 'refused', code: 'SHOAL_ERR_LAST_MANAGER', message: 'cannot demote node-1: it is the only manager; the cluster would have none' },
    },
    {
      name: 'demote one of two managers on record: the store cannot move',
      nodes: [manager, worker, otherManager],
      node: otherManager,
      role: 'worker',
      want: {
        outcome: 'refused',
        code: 'SHOAL_ERR_REPLICATED_STORE_REQUIRED',
        message:
          "cannot demote node-3: this cluster keeps its state in one manager's embedded store; changing managers needs a replicated store (etcd): start every manager with --store etcd://... (see shoal daemon --help)",
      },
    },
  ];
  for (const c of cases) {
    const d = decideRoleChange(c.nodes, c.node, c.role);
    const got =
      d.outcome === 'unchanged' ? { outcome: d.outcome, message: d.message } : d.outcome === 'refused' ? { outcome: d.outcome, code: d.error.code, message: d.error.message } : { outcome: d.outcome };
    t.same(got, c.want, c.name);
    if (d.outcome === 'refused') t.equal(d.error.status, 409, `${c.name}: a 409 from the API`);
  }
});

t.test('the no-op message is Docker’s', async (t) => {
  t.equal(alreadyInRole('abc123', 'worker'), 'Node abc123 is already a worker.');
});

t.test('with managers on etcd, a running node changes role, but the last manager stays one', async (t) => {
  const m1 = makeNode('m1', { hostname: 'node-1', role: 'manager' });
  const m2 = makeNode('m2', { hostname: 'node-2', role: 'manager' });
  const w3 = makeNode('w3', { hostname: 'node-3' });
  const promote = decideRoleChange([m1, m2, w3], w3, 'manager', 'replicated');
  t.same(promote, { outcome: 'changed' }, 'a worker is promoted');
  t.same(decideRoleChange([m1, m2, w3], m2, 'worker', 'replicated'), { outcome: 'changed' }, 'one of two managers is demoted');
  t.same(decideRoleChange([m1, m2, w3], m1, 'manager', 'replicated'), { outcome: 'unchanged', message: 'Node node-1 is already a manager.' }, 'a manager asked to be one is left alone');
  t.match(decideRoleChange([m1, w3], m1, 'worker', 'replicated'), { outcome: 'refused', error: { code: 'SHOAL_ERR_LAST_MANAGER' } }, 'the last manager stays one');
});
