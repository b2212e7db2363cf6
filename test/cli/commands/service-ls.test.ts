import t from 'tap';
import { restartsOf, serviceError } from '../../../src/cli/commands/service-ls';
import type { Task } from '../../../src/model/types';
import { at, makeService, makeTask } from '../../support/builders';

const web = makeService('web', { replicas: 2 });
const withErr = (x: Task, err: string, since: number): Task => ({ ...x, status: { ...x.status, err, since: at(since) } });

t.test('restarts: the sum over the tasks wanted running', async (t) => {
  const tasks: Task[] = [
    { ...makeTask('a', web, { slot: 1 }), restarts: 3 },
    { ...makeTask('b', web, { slot: 2 }), restarts: 1 },
    { ...makeTask('old', web, { slot: 1, desired: 'shutdown', state: 'failed' }), restarts: 2 },
    { ...makeTask('other', makeService('other')), restarts: 7 },
  ];
  t.equal(restartsOf(web, tasks), 4);
  t.equal(restartsOf(web, []), 0);
});

t.test('error: the newest one of current tasks and their predecessors, only when short of replicas', async (t) => {
  const cases: { name: string; tasks: Task[]; want: string }[] = [
    { name: 'all running: no error shown', tasks: [makeTask('a', web, { slot: 1 }), withErr(makeTask('b', web, { slot: 2 }), 'old trouble', 5)], want: '' },
    {
      name: 'a crash loop: the predecessor of the starting task holds the error',
      tasks: [
        makeTask('a', web, { slot: 1 }),
        makeTask('b2', web, { slot: 2, state: 'starting', created: 20 }),
        withErr(makeTask('b1', web, { slot: 2, desired: 'shutdown', state: 'failed', created: 10 }), 'task: non-zero exit (1): boom', 15),
        withErr(makeTask('b0', web, { slot: 2, desired: 'shutdown', state: 'failed', created: 0 }), 'older boom', 5),
      ],
      want: 'task: non-zero exit (1): boom',
    },
    {
      name: 'the newest error wins across slots',
      tasks: [
        withErr(makeTask('a', web, { slot: 1, state: 'failed' }), 'first', 10),
        withErr(makeTask('b', web, { slot: 2, state: 'failed' }), 'second', 20),
      ],
      want: 'second',
    },
    { name: 'short of replicas but no error', tasks: [makeTask('a', web, { slot: 1 })], want: '' },
  ];
  for (const c of cases) t.equal(serviceError(web, c.tasks), c.want, c.name);
});
