import t from 'tap';
import { GIVE_UP_FAILURES, progressOf, stableAt } from '../../src/cli/progress-view';
import type { Service, Task } from '../../src/model/types';
import { at, makeService, makeTask, T0 } from '../support/builders';

const EADDRINUSE = 'task: non-zero exit (1): Error: listen EADDRINUSE: address already in use :::80';

/** A task that failed with `err`, desired state shutdown once it was replaced. */
function failedTask(id: string, s: Service, slot: number, created: number, err = EADDRINUSE, o: { desired?: 'running' | 'shutdown' } = {}): Task {
  const task = makeTask(id, s, { slot, state: 'failed', desired: o.desired ?? 'shutdown', created, since: created + 100, exitCode: 1, message: err });
  task.status.err = err;
  return task;
}

/** Slot `slot` after `n` failures, with a fresh replacement in `state`. */
function slotHistory(s: Service, slot: number, n: number, state: Task['status']['state'] = 'pending'): Task[] {
  const tasks = Array.from({ length: n }, (_, i) => failedTask(`f${slot}-${i}`, s, slot, i * 1000));
  if (state) tasks.push(makeTask(`cur${slot}`, s, { slot, state, created: n * 1000 }));
  return tasks;
}

t.test('per-slot lines carry the state and the latest error', async (t) => {
  const s = makeService('roll', { replicas: 2 });
  const tasks = [...slotHistory(s, 1, 1, 'starting'), makeTask('ok', s, { slot: 2, state: 'running', since: 500 })];
  const p = progressOf(s, tasks);
  t.equal(p.total, 2);
  t.equal(p.done, 1);
  t.match(p.lines[0], { label: '1/2', name: 'roll.1', state: 'starting', done: false, err: EADDRINUSE, failures: 1 });
  t.match(p.lines[1], { label: '2/2', name: 'roll.2', state: 'running', done: true, failures: 0, readySinceMs: T0 + 500 });
  t.notOk(p.lines[1].err);
  t.notOk(p.hopeless);
});

t.test('a pending task says why it waits', async (t) => {
  const s = makeService('big');
  const p = progressOf(s, [makeTask('p', s, { state: 'pending', pendingReason: 'no-suitable-node', message: 'no suitable node (3 nodes had no port 80 free)' })]);
  t.equal(p.lines[0].err, 'no suitable node (3 nodes had no port 80 free)');
  t.notOk(p.hopeless, 'waiting for a node is not failing');
  const fresh = progressOf(s, [makeTask('q', s, { state: 'pending', pendingReason: 'scheduling', message: 'pending task scheduling' })]);
  t.notOk(fresh.lines[0].err, 'the usual pending message is no error');
});

const hopelessCases: { name: string; build: (s: Service) => Task[]; hopeless: boolean }[] = [
  { name: `every slot failed ${GIVE_UP_FAILURES} times, none running`, build: (s) => [...slotHistory(s, 1, 3), ...slotHistory(s, 2, 4)], hopeless: true },
  { name: 'one slot failed only twice', build: (s) => [...slotHistory(s, 1, 3), ...slotHistory(s, 2, 2)], hopeless: false },
  { name: 'a slot runs (after failures)', build: (s) => [...slotHistory(s, 1, 3), ...slotHistory(s, 2, 3, 'running')], hopeless: false },
  { name: 'the failed task itself is the current one', build: (s) => [...slotHistory(s, 1, 3, '' as never), failedTask('cur', s, 1, 9000, EADDRINUSE, { desired: 'running' }), ...slotHistory(s, 2, 3)], hopeless: true },
  {
    name: 'failures of an older spec do not count',
    build: (s) => {
      const old = structuredClone(s);
      old.spec.task.command = ['old'];
      return [...slotHistory(old, 1, 3), ...slotHistory(s, 2, 3)].map((x) => ({ ...x, slot: x.slot }));
    },
    hopeless: false,
  },
  { name: 'no tasks yet', build: () => [], hopeless: false },
];

for (const c of hopelessCases) {
  t.test(`give up: ${c.name}`, async (t) => {
    const s = makeService('roll', { replicas: 2 });
    const p = progressOf(s, c.build(s));
    t.equal(!!p.hopeless, c.hopeless);
    if (c.hopeless) {
      t.match(p.hopeless, /^service roll is not converging: each of its 2 tasks failed 3 times or more and none is running; last error: roll\.1: task: non-zero exit \(1\): Error: listen EADDRINUSE/);
      t.notMatch(p.hopeless!, /\n/, 'one line');
    }
  });
}

t.test('global services: one line per node', async (t) => {
  const s = makeService('agent', { mode: 'global' });
  const tasks = [
    failedTask('a0', s, 0, 0),
    failedTask('a1', s, 0, 1000),
    failedTask('a2', s, 0, 2000),
    makeTask('a3', s, { slot: 0, nodeId: 'n1', state: 'pending', created: 3000 }),
  ].map((x) => ({ ...x, nodeId: 'n1' }));
  const p = progressOf(s, tasks);
  t.equal(p.lines.length, 1);
  t.match(p.lines[0], { label: 'n1', name: 'agent.n1', failures: 3 });
  t.match(p.hopeless, /its task failed 3 times/);
});

t.test('stableAt: the last ready task plus the monitor period', async (t) => {
  const s = makeService('web', { replicas: 2 });
  const p = progressOf(s, [makeTask('a', s, { slot: 1, since: 100 }), makeTask('b', s, { slot: 2, since: 700 })]);
  t.equal(stableAt(p, 5000), T0 + 5700);
  t.equal(Date.parse(at(700)), T0 + 700);
});
