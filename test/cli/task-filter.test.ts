import t from 'tap';
import { matchesFilter, parseTaskFilters } from '../../src/cli/task-filter';
import type { Node, Task } from '../../src/model/types';
import { makeNode, makeService, makeTask } from '../support/builders';

const web = makeService('web');
const nodes = new Map<string, Node>([['n1aaaa', makeNode('n1aaaa', { hostname: 'alpha' })], ['n2bbbb', makeNode('n2bbbb', { hostname: 'beta' })]]);
const tasks: Task[] = [
  makeTask('t1current', web, { slot: 1, nodeId: 'n1aaaa' }),
  makeTask('t1old', web, { slot: 1, nodeId: 'n2bbbb', desired: 'shutdown', state: 'failed' }),
  makeTask('t2current', web, { slot: 2, nodeId: 'n2bbbb' }),
  makeTask('t3accepted', web, { slot: 3, nodeId: 'n2bbbb', desired: 'accepted' }),
  makeTask('t4pending', web, { slot: 4, nodeId: '', state: 'pending' }),
];

const cases: [string, string[], string[]][] = [
  ['no filter: all', [], ['t1current', 't1old', 't2current', 't3accepted', 't4pending']],
  ['desired-state=running', ['desired-state=running'], ['t1current', 't2current', 't4pending']],
  ['desired-state=shutdown: only history', ['desired-state=shutdown'], ['t1old']],
  ['desired-state=accepted', ['desired-state=accepted'], ['t3accepted']],
  ['state value is case-blind', ['desired-state=Running'], ['t1current', 't2current', 't4pending']],
  ['node by hostname', ['node=alpha'], ['t1current']],
  ['node by id', ['node=n2bbbb'], ['t1old', 't2current', 't3accepted']],
  ['node by id prefix', ['node=n2'], ['t1old', 't2current', 't3accepted']],
  ['id prefix', ['id=t1'], ['t1current', 't1old']],
  ['name', ['name=web.2'], ['t2current']],
  ['same key twice: OR', ['name=web.1', 'name=web.2'], ['t1current', 't1old', 't2current']],
  ['different keys: AND', ['name=web.1', 'desired-state=running'], ['t1current']],
  ['AND of ORs', ['node=alpha', 'node=beta', 'desired-state=shutdown'], ['t1old']],
  ['an unknown node matches nothing', ['node=gamma'], []],
];
for (const [name, flags, want] of cases) {
  const f = parseTaskFilters(flags);
  t.same(tasks.filter((x) => matchesFilter(x, f, nodes)).map((x) => x.id), want, name);
}

const bad: [string[], RegExp][] = [
  [['foo'], /^invalid filter 'foo'$/],
  [['foo=bar'], /^invalid filter 'foo'$/],
  [['desired-state=sleeping'], /^invalid filter 'desired-state=sleeping'/],
  [['node='], /^invalid filter 'node='/],
  [['=x'], /^invalid filter '=x'$/],
];
for (const [flags, re] of bad) t.throws(() => parseTaskFilters(flags), { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: re }, flags.join(' '));
