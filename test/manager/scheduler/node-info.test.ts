import t from 'tap';
import { FAILURE_WINDOW_MS, MAX_RECENT_FAILURES, buildNodeInfos, versionKey } from '../../../src/manager/scheduler/node-info';
import { needsScheduling } from '../../../src/manager/scheduler/scheduler';
import type { Service, Task } from '../../../src/model/types';
import { T0, makeNode, makeService, makeTask } from '../../support/builders';

const MiB = 1024 * 1024;
const NOW = T0 + 10 * 60_000;

t.test('swarmkit’s numbers: 5 failures within 5 minutes', async (t) => {
  t.equal(MAX_RECENT_FAILURES, 5);
  t.equal(FAILURE_WINDOW_MS, 300_000);
});

t.test('load, reservations and host ports of the tasks on a node', async (t) => {
  const web = makeService('web', { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' }] });
  web.spec.task.resources = { reservations: { nanoCpus: 0.25e9, memoryBytes: 100 * MiB } };
  const node = makeNode('n1', { resources: { nanoCpus: 2e9, memoryBytes: 1024 * MiB } });
  const cases: { name: string; tasks: Task[]; service: number; active: number; cpus: number; mem: number; ports: string[] }[] = [
    { name: 'empty', tasks: [], service: 0, active: 0, cpus: 2e9, mem: 1024 * MiB, ports: [] },
    { name: 'running', tasks: [makeTask('a', web)], service: 1, active: 1, cpus: 1.75e9, mem: 924 * MiB, ports: ['tcp/8080'] },
    {
      name: 'stopping: holds ports and resources, not load',
      tasks: [makeTask('a', web, { desired: 'shutdown' })],
      service: 0,
      active: 0,
      cpus: 1.75e9,
      mem: 924 * MiB,
      ports: ['tcp/8080'],
    },
    { name: 'finished: nothing', tasks: [makeTask('a', web, { state: 'complete' })], service: 0, active: 0, cpus: 2e9, mem: 1024 * MiB, ports: [] },
    {
      name: 'waiting for the scheduler while bound: nothing yet',
      tasks: [makeTask('a', web, { state: 'pending' })],
      service: 0,
      active: 0,
      cpus: 2e9,
      mem: 1024 * MiB,
      ports: [],
    },
  ];
  for (const c of cases) {
    const info = buildNodeInfos([node], c.tasks, new Map([[web.id, web]]), { waiting: needsScheduling }).get('n1');
    t.ok(info, c.name);
    if (!info) continue;
    t.same(
      { service: info.serviceTasks('web'), active: info.activeTasks, cpus: info.available.nanoCpus, mem: info.available.memoryBytes, ports: [...info.usedHostPorts] },
      { service: c.service, active: c.active, cpus: c.cpus, mem: c.mem, ports: c.ports },
      c.name,
    );
  }
});

t.test('recent failures per service version, inside the window', async (t) => {
  const web = makeService('web');
  const fail = (id: string, ageMs: number, o: { state?: 'failed' | 'rejected' | 'shutdown'; svc?: Service; version?: number; node?: string } = {}) =>
    makeTask(id, o.svc ?? web, { nodeId: o.node ?? 'n1', state: o.state ?? 'failed', desired: 'shutdown', since: NOW - T0 - ageMs, version: o.version });
  const tasks = [
    fail('a', 0),
    fail('b', 60_000, { state: 'rejected' }),
    fail('c', FAILURE_WINDOW_MS - 1),
    fail('d', FAILURE_WINDOW_MS),
    fail('e', 1_000, { state: 'shutdown' }),
    fail('f', 1_000, { version: 2 }),
    fail('g', 1_000, { svc: makeService('db') }),
    fail('h', 1_000, { node: 'gone' }),
  ];
  const infos = buildNodeInfos([makeNode('n1')], tasks, new Map(), { now: NOW });
  const info = infos.get('n1');
  t.same(Object.fromEntries(info?.recentFailures ?? []), { [versionKey('web', 1)]: 3, [versionKey('web', 2)]: 1, [versionKey('db', 1)]: 1 });
  t.equal(info?.avoidedFor(versionKey('web', 1)), false, 'three is not five');
  const none = buildNodeInfos([makeNode('n1')], tasks, new Map()).get('n1');
  t.equal(none?.recentFailures.size, 0, 'without a time, no failures are counted');
});
