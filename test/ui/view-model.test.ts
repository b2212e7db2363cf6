import t from 'tap';
import type { Service, UpdateStatus } from '../../src/model/types';
import { buildSnapshot, isCurrent, serviceHue } from '../../src/ui/view-model';
import { at, makeNode, makeService, makeTask, makeTaskTemplate } from '../support/builders';

/** `service` whose spec moved on (new command), with this update status. */
function updated(service: Service, state: UpdateStatus['state']): Service {
  return {
    ...service,
    version: service.version + 1,
    spec: { ...service.spec, task: makeTaskTemplate({ command: ['node', 'v2.js'] }) },
    updateStatus: { state, startedAt: at(0), message: `update ${state}` },
  };
}

t.test('nodes become columns: managers first, then by hostname, with their marks', async (t) => {
  const nodes = [
    makeNode('w2', { hostname: 'b' }),
    makeNode('w1', { hostname: 'a', availability: 'drain' }),
    makeNode('m1', { hostname: 'z', role: 'manager' }),
    makeNode('w3', { hostname: 'c', status: { state: 'down', since: at(0), message: 'no heartbeat' } }),
  ];
  const snap = buildSnapshot(nodes, [], []);
  t.same(
    snap.nodes.map((n) => [n.id, n.role, n.availability, n.state]),
    [
      ['m1', 'manager', 'active', 'ready'],
      ['w1', 'worker', 'drain', 'ready'],
      ['w2', 'worker', 'active', 'ready'],
      ['w3', 'worker', 'active', 'down'],
    ],
  );
  t.same(Object.keys(snap.nodes[0]).sort(), ['address', 'availability', 'hostname', 'id', 'role', 'state'], 'only the facts the page shows');
});

t.test('tasks become cards on their node, ordered by service and slot, history after current', async (t) => {
  const web = makeService('web', { replicas: 2 });
  const api = makeService('api', { replicas: 1 });
  const tasks = [
    makeTask('w2', web, { slot: 2, nodeId: 'n2', state: 'starting' }),
    makeTask('w1old', web, { slot: 1, nodeId: 'n1', state: 'shutdown', desired: 'shutdown', since: 1 }),
    makeTask('w1', web, { slot: 1, nodeId: 'n2', since: 2 }),
    makeTask('a1', api, { slot: 1, nodeId: '', state: 'pending' }),
  ];
  const snap = buildSnapshot([makeNode('n1'), makeNode('n2')], [web, api], tasks);
  const cards = snap.tasks.map((c) => [c.id, c.serviceName, c.slot, c.nodeId, c.state, c.current]);
  t.same(cards, [
    ['a1', 'api', 1, '', 'pending', true],
    ['w1', 'web', 1, 'n2', 'running', true],
    ['w1old', 'web', 1, 'n1', 'shutdown', false],
    ['w2', 'web', 2, 'n2', 'starting', true],
  ]);
  t.same(
    snap.services.map((s) => [s.name, s.replicas, s.running]),
    [
      ['api', 1, 0],
      ['web', 2, 1],
    ],
    'services in the legend with running/wanted',
  );
});

t.test('what a card may say: no command, environment or labels leave the manager', async (t) => {
  const web = makeService('web');
  web.spec.task = makeTaskTemplate({ env: { PASSWORD: 'hunter2' } });
  const task = makeTask('t1', web, { state: 'failed', desired: 'shutdown', exitCode: 3 });
  const json = JSON.stringify(buildSnapshot([makeNode('n1')], [web], [task]));
  t.notMatch(json, /hunter2|server\.js|PASSWORD/);
  t.match(JSON.parse(json).tasks[0], { id: 't1', state: 'failed', exitCode: 3, current: false });
});

t.test('tasks of a removed service are left out', async (t) => {
  const gone = makeService('gone');
  const snap = buildSnapshot([makeNode('n1')], [], [makeTask('t1', gone)]);
  t.same(snap.tasks, []);
});

t.test('an update in progress shows its progress and which cards are old', async (t) => {
  const cases: { state: UpdateStatus['state']; done: number }[] = [
    { state: 'updating', done: 1 },
    { state: 'paused', done: 1 },
    { state: 'rollback_started', done: 1 },
    { state: 'completed', done: 3 },
  ];
  for (const c of cases) {
    const before = makeService('web', { replicas: 3 });
    const web = updated(before, c.state);
    const tasks = [
      makeTask('new1', web, { slot: 1 }),
      makeTask('new2', web, { slot: 2, state: 'starting' }),
      makeTask('old3', before, { slot: 3 }),
    ];
    const snap = buildSnapshot([makeNode('n1')], [web], tasks);
    t.same(snap.services[0].update, { state: c.state, done: c.done, total: 3, message: `update ${c.state}` }, c.state);
    t.same(
      snap.tasks.map((x) => [x.id, x.upToDate]),
      [
        ['new1', true],
        ['new2', true],
        ['old3', false],
      ],
      `${c.state}: the card of the old spec is marked`,
    );
  }
  const quiet = buildSnapshot([], [makeService('web')], []);
  t.notOk('update' in quiet.services[0], 'no update, no badge');
});

t.test('global services count wanted tasks, not replicas', async (t) => {
  const agent = makeService('agent', { mode: 'global' });
  const tasks = [makeTask('g1', agent, { nodeId: 'n1' }), makeTask('g2', agent, { nodeId: 'n2', state: 'starting' })];
  const snap = buildSnapshot([makeNode('n1'), makeNode('n2')], [agent], tasks);
  t.match(snap.services[0], { mode: 'global', replicas: null, running: 1 });
});

t.test('a task is current until it was told to stop and has stopped', async (t) => {
  const web = makeService('web');
  const table: [Parameters<typeof makeTask>[2], boolean][] = [
    [{ state: 'running', desired: 'running' }, true],
    [{ state: 'running', desired: 'shutdown' }, true],
    [{ state: 'shutdown', desired: 'shutdown' }, false],
    [{ state: 'failed', desired: 'running' }, true],
    [{ state: 'complete', desired: 'complete' }, false],
  ];
  for (const [o, want] of table) t.equal(isCurrent(makeTask('x', web, o)), want, `${o?.state}/${o?.desired}`);
});

t.test('service hues are stable and spread', async (t) => {
  t.equal(serviceHue('web'), serviceHue('web'));
  const hues = ['web', 'web2', 'api', 'db', 'echo'].map(serviceHue);
  for (const h of hues) t.ok(Number.isInteger(h) && h >= 0 && h < 360, `hue ${h} in range`);
  t.equal(new Set(hues).size, hues.length, 'different names, different hues');
});
