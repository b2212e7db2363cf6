import t from 'tap';
import { errorCell, portsCell, psJson, psRows, sortForPs } from '../../../src/cli/commands/service-ps';
import type { Node, Service, Task } from '../../../src/model/types';
import { T0, makeNode, makeService, makeTask } from '../../support/builders';

const LONG = 'task: non-zero exit (1): Error: listen EADDRINUSE: address already in use :::80';
const web: Service = makeService('web', { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 9000, publishMode: 'host' }, { protocol: 'tcp', targetPort: 81, publishedPort: 9001, publishMode: 'ingress' }] });
const nodes = new Map<string, Node>([['n1', makeNode('n1', { hostname: 'alpha' })]]);
const services = new Map([[web.id, web]]);

const failed = (id: string, created: number, restarts?: number): Task => {
  const x = makeTask(id, web, { desired: 'shutdown', state: 'failed', created });
  x.status.err = LONG;
  return restarts === undefined ? x : { ...x, restarts };
};
const current: Task = { ...makeTask('currentxxxxxxxxxxx', web, { created: 3 }), restarts: 2 };
const tasks = sortForPs([failed('oldest', 1, 0), current, failed('older', 2, 1)]);

t.test('rows: current task first with its restarts and ports, history indented and blank there', async (t) => {
  const rows = psRows(tasks, { nodes, services, trunc: true, now: T0 + 5_000 });
  t.same(rows.map((r) => r[0]), ['currentxxxxx', 'older', 'oldest']);
  t.same(rows.map((r) => r[1]), ['web.1', ' \\_ web.1', ' \\_ web.1']);
  t.same(rows.map((r) => r[7]), ['*:9000->80/tcp', '', ''], 'PORTS: host-mode ports of the current task only');
  t.same(rows.map((r) => r[8]), ['2', '', ''], 'RESTARTS: the current task only');
  t.equal(rows[1][6], '"task: non-zero exit (1): Error: liste…"', 'error cut at 40 characters');
  t.equal(rows[1][6].length, 40);
  const full = psRows(tasks, { nodes, services, trunc: false, now: T0 + 5_000 });
  t.equal(full[1][6], `"${LONG}"`, '--no-trunc: the whole error');
  t.equal(full[0][0], 'currentxxxxxxxxxxx', '--no-trunc: the whole id');
});

t.test('the command is cut unless --no-trunc', async (t) => {
  const long = { ...current, spec: { ...current.spec, command: ['node', '-e', 'x'.repeat(60)] } };
  t.equal(psRows([long], { nodes, services, trunc: true, now: T0 })[0][2].length, 40);
  t.equal(psRows([long], { nodes, services, trunc: false, now: T0 })[0][2], `node -e ${'x'.repeat(60)}`);
});

t.test('cells', async (t) => {
  t.equal(errorCell(makeTask('a', web), true), '', 'no error');
  const pending = makeTask('p', web, { state: 'pending', pendingReason: 'no-suitable-node', message: 'no suitable node (1 node not available for new tasks)' });
  t.equal(errorCell(pending, false), '"no suitable node (1 node not available for new tasks)"', 'why a pending task waits');
  const dynamic = makeService('dyn', { ports: [{ protocol: 'udp', targetPort: 53, publishMode: 'host' }] });
  const running = makeTask('d', dynamic);
  running.status.ports = { 'udp/53': 30053 };
  t.equal(portsCell(running, dynamic), '*:30053->53/udp', 'a host port chosen for the task');
  t.equal(portsCell(makeTask('i', makeService('ing', { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] })), undefined), '', 'no service, no ports');
  t.equal(portsCell(makeTask('i', web, { desired: 'shutdown' }), web), '', 'history has none');
  t.match(psJson(current, { nodes, services }), { ID: current.id, Name: 'web.1', Restarts: 2, Node: 'alpha' });
  t.match(psJson(failed('f', 0), { nodes, services }), { Restarts: 0, Error: LONG });
});
