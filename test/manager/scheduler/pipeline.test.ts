import t from 'tap';
import {
  AvailabilityFilter,
  ConstraintFilter,
  HostPortFilter,
  ReadyFilter,
  defaultFilters,
} from '../../../src/manager/scheduler/filter';
import { NodeInfo } from '../../../src/manager/scheduler/node-info';
import { Pipeline } from '../../../src/manager/scheduler/pipeline';
import type { Node } from '../../../src/model/types';
import { makeNode, makeService, makeTask } from '../../support/builders';

t.test('filters explain their rejections, singular and plural', async (t) => {
  const hp = new HostPortFilter();
  hp.setTask(
    makeTask('x', makeService('s')),
    makeService('s', { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' }] }),
  );
  const cases: [string, string][] = [
    [new ReadyFilter().explain(1), '1 node not ready'],
    [new ReadyFilter().explain(4), '4 nodes not ready'],
    [new AvailabilityFilter().explain(1), '1 node not available for new tasks'],
    [new AvailabilityFilter().explain(3), '3 nodes not available for new tasks'],
    [new ConstraintFilter().explain(2), '2 nodes did not satisfy constraints'],
    [hp.explain(2), '2 nodes had no port 8080/tcp free'],
  ];
  for (const [got, want] of cases) t.equal(got, want);
  t.same(
    defaultFilters().map((f) => f.name),
    ['ReadyFilter', 'AvailabilityFilter', 'ConstraintFilter', 'HostPortFilter', 'MemoryFilter', 'CpuFilter', 'MaxReplicasFilter'],
    'readiness first, what the node is before what it holds',
  );
});

t.test('filters that do not apply to a task are skipped', async (t) => {
  const plain = makeService('s');
  const task = makeTask('x', plain);
  t.equal(new ConstraintFilter().setTask(task), false, 'no constraints');
  t.equal(new HostPortFilter().setTask(task, plain), false, 'no host ports');
  const ingress = makeService('s', { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] });
  t.equal(new HostPortFilter().setTask(task, ingress), false, 'ingress ports are the mesh’s, not the node’s');
});

function info(node: Node, hostPorts: string[] = []): NodeInfo {
  const i = new NodeInfo(node);
  for (const p of hostPorts) i.usedHostPorts.add(p);
  return i;
}

t.test('pipeline charges the first failing filter and builds the message', async (t) => {
  const hostSvc = makeService('web', {
    constraints: ['node.labels.zone==east'],
    ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' }],
  });
  const east = { zone: 'east' };
  const cases: { name: string; nodes: NodeInfo[]; pass: number; message: string }[] = [
    { name: 'no nodes at all', nodes: [], pass: 0, message: 'no suitable node' },
    {
      name: 'the example from STYLE.md',
      nodes: [
        info(makeNode('a', { labels: east, availability: 'drain' })),
        info(makeNode('b', { labels: east, availability: 'pause' })),
        info(makeNode('c', { labels: east, availability: 'drain' })),
        info(makeNode('d', { labels: east }), ['tcp/8080']),
        info(makeNode('e', { labels: east }), ['tcp/8080', 'udp/53']),
      ],
      pass: 0,
      message: 'no suitable node (3 nodes not available for new tasks; 2 nodes had no port 8080/tcp free)',
    },
    {
      name: 'a down and drained node counts once, as not ready',
      nodes: [
        info(makeNode('a', { labels: east, availability: 'drain', status: { state: 'down', since: '', message: '' } })),
        info(makeNode('b', { labels: { zone: 'west' } })),
        info(makeNode('c', { labels: east })),
      ],
      pass: 1,
      message: 'no suitable node (1 node not ready; 1 node did not satisfy constraints)',
    },
    {
      name: 'most common reason first',
      nodes: [
        info(makeNode('a', { labels: east, status: { state: 'down', since: '', message: '' } })),
        info(makeNode('b')),
        info(makeNode('c', { labels: { zone: 'west' } })),
      ],
      pass: 0,
      message: 'no suitable node (2 nodes did not satisfy constraints; 1 node not ready)',
    },
    {
      name: 'udp and tcp ports do not clash',
      nodes: [info(makeNode('a', { labels: east }), ['udp/8080'])],
      pass: 1,
      message: 'no suitable node',
    },
  ];
  for (const c of cases) {
    const p = new Pipeline();
    p.setTask(makeTask('x', hostSvc), hostSvc);
    const passed = c.nodes.filter((n) => p.process(n)).length;
    t.equal(passed, c.pass, `${c.name}: passing nodes`);
    t.equal(p.explain(), c.message, c.name);
  }
});

t.test('host port filter names several busy ports', async (t) => {
  const svc = makeService('dns', {
    ports: [
      { protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'host' },
      { protocol: 'tcp', targetPort: 53, publishedPort: 53, publishMode: 'host' },
    ],
  });
  const p = new Pipeline();
  p.setTask(makeTask('x', svc), svc);
  p.process(info(makeNode('a'), ['udp/53']));
  p.process(info(makeNode('b'), ['tcp/53', 'udp/53']));
  t.equal(p.explain(), 'no suitable node (2 nodes had no ports 53/udp, 53/tcp free)');
});

t.test('a stored invalid constraint places nothing', async (t) => {
  const svc = makeService('s', { constraints: ['node.role=manager'] });
  const p = new Pipeline();
  p.setTask(makeTask('x', svc), svc);
  t.equal(p.process(info(makeNode('a', { role: 'manager' }))), false);
  t.equal(p.explain(), 'no suitable node (1 node did not satisfy constraints)');
});

t.test('the message of the issue: drained nodes and one short of memory', async (t) => {
  const svc = makeService('web');
  svc.spec.task.resources = { reservations: { memoryBytes: 512 * 1024 * 1024 } };
  const tight = info(makeNode('c', { resources: { nanoCpus: 1e9, memoryBytes: 256 * 1024 * 1024 } }));
  const nodes = [
    info(makeNode('a', { availability: 'drain' })),
    info(makeNode('b', { availability: 'pause' })),
    info(makeNode('d', { availability: 'drain' })),
    tight,
  ];
  const p = new Pipeline();
  p.setTask(makeTask('x', svc), svc);
  t.equal(nodes.filter((n) => p.process(n)).length, 0);
  t.equal(p.explain(), 'no suitable node (3 nodes not available for new tasks; 1 node lacked 512MiB memory)');
});

t.test('after a placement only the load-dependent filters are asked again', async (t) => {
  const svc = makeService('web', { constraints: ['node.labels.zone==east'] });
  svc.spec.task.placement.maxReplicas = 1;
  const p = new Pipeline();
  p.setTask(makeTask('x', svc), svc);
  const node = info(makeNode('a', { labels: { zone: 'east' } }));
  t.equal(p.process(node), true);
  node.node.labels.zone = 'west';
  t.equal(p.recheck(node), true, 'constraints are not asked again');
  node.tasksByService.set('web', 1);
  t.equal(p.recheck(node), false, 'the replica limit is');
  t.equal(p.explain(), 'no suitable node (1 node had max replicas per node limit exceeded)');
});
