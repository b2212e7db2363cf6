/**
 * The manager's logs endpoints over real HTTP, an in-memory store and a
 * fake node reader: which tasks are read, the time-ordered merge, one error
 * line per unreadable task, a task target, follow picking up tasks that start
 * later, and one-line errors for bad input.
 */
import t from 'tap';
import { startManagerApi } from '../fixtures/manager-api';
import { request } from 'undici';
import type { LogRecord } from '../../../src/agent/executor/log-record';
import type { LogLine } from '../../../src/api/contract';
import type { NodeLogQuery, NodeLogReader } from '../../../src/manager/controlapi/node-log';
import { mergeByTime, parseLogParams } from '../../../src/manager/controlapi/logs';
import { KEYS, type Task } from '../../../src/model/types';
import { makeNode, makeService, makeTask } from '../../support/builders';
import { eventually } from '../../support/eventually';

const rec = (t: string, l: string, s: 'out' | 'err' = 'out'): LogRecord => ({ t: `2024-05-06T07:08:${t}Z`, s, l });

/** A node reader whose answers the test scripts: records per task, an error, or a live feed. */
class FakeNodes {
  readonly queries = new Map<string, NodeLogQuery>();
  readonly logs = new Map<string, LogRecord[]>();
  readonly broken = new Map<string, string>();
  private readonly feeds = new Map<string, { push(r: LogRecord[]): void; end(): void }>();
  private readonly waiting = new Map<string, () => void>();

  reader: NodeLogReader = async (node, taskId, query, onRecords, signal) => {
    this.queries.set(taskId, query);
    const err = this.broken.get(taskId);
    if (err) throw new Error(`node ${node.hostname} unreachable: ${err}`);
    onRecords(this.logs.get(taskId) ?? []);
    if (!query.follow) return;
    await new Promise<void>((resolve) => {
      this.feeds.set(taskId, { push: onRecords, end: resolve });
      signal.addEventListener('abort', () => resolve());
      this.waiting.get(taskId)?.();
    });
  };

  /** Resolves once the task is being followed. */
  followed(taskId: string): Promise<void> {
    if (this.feeds.has(taskId)) return Promise.resolve();
    return new Promise((resolve) => this.waiting.set(taskId, resolve));
  }

  feed(taskId: string) {
    return this.feeds.get(taskId)!;
  }
}

async function setup(t: Tap) {
  const nodes = new FakeNodes();
  const { store, base } = await startManagerApi(t, {}, { readNodeLog: nodes.reader });
  const web = makeService('websvc000001', { replicas: 3 });
  await store.put(KEYS.service(web.id), web);
  for (const id of ['n1', 'n2']) await store.put(KEYS.node(id), makeNode(id));
  const put = (task: Task) => store.put(KEYS.task(task.id), task);
  return { store, nodes, base, web, put };
}
type Tap = { teardown(fn: () => unknown): void };

const get = async (url: string) => {
  const res = await request(url);
  const text = await res.body.text();
  return { status: res.statusCode, text, lines: res.statusCode === 200 ? text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine) : [] };
};

t.test('the tasks of a service, merged in time order, an error line for one that cannot be read', async (t) => {
  const { nodes, base, web, put } = await setup(t);
  await put(makeTask('task-a', web, { slot: 1, nodeId: 'n1' }));
  await put(makeTask('task-b', web, { slot: 2, nodeId: 'n2', desired: 'shutdown', state: 'failed' }));
  await put(makeTask('task-c', web, { slot: 3, nodeId: 'n2' }));
  await put(makeTask('task-pending', web, { slot: 3, nodeId: '', state: 'pending' }));
  await put(makeTask('task-gone', web, { slot: 3, nodeId: 'n9', desired: 'shutdown', state: 'orphaned' }));
  nodes.logs.set('task-a', [rec('01.000000000', 'a1'), rec('03.000000000', 'a2')]);
  nodes.logs.set('task-b', [rec('02.000000000', 'b1', 'err'), rec('04.000000000', 'b2')]);
  nodes.broken.set('task-c', 'connect ECONNREFUSED');

  const r = await get(`${base}/v1/services/websvc000001/logs?tail=10&since=2024-05-06T07:08:00Z`);
  t.equal(r.status, 200);
  const logs = r.lines.filter((l) => l.type === 'log');
  t.same(logs.map((l) => l.type === 'log' && `${l.taskId}:${l.s}:${l.l}`), ['task-a:out:a1', 'task-b:err:b1', 'task-a:out:a2', 'task-b:out:b2']);
  t.match(logs[0], { serviceName: 'websvc000001', slot: 1, nodeId: 'n1', t: '2024-05-06T07:08:01.000000000Z' });
  const errors = r.lines.filter((l) => l.type === 'error');
  t.same(errors.map((l) => l.type === 'error' && `${l.taskId}: ${l.message}`).sort(), ['task-c: node host-n2 unreachable: connect ECONNREFUSED', 'task-gone: node is gone']);
  t.notOk(nodes.queries.has('task-pending'), 'a task no node runs yet is not asked for');
  t.same(nodes.queries.get('task-a'), { follow: false, tail: 10, since: '2024-05-06T07:08:00Z' });
});

t.test('a task by id prefix; unknown targets and bad values are one clear error', async (t) => {
  const { nodes, base, web, put } = await setup(t);
  await put(makeTask('task-a', web, { slot: 1, nodeId: 'n1' }));
  await put(makeTask('task-b', web, { slot: 2, nodeId: 'n1' }));
  nodes.logs.set('task-a', [rec('01.000000000', 'only a')]);
  nodes.logs.set('task-b', [rec('01.000000000', 'only b')]);
  const r = await get(`${base}/v1/tasks/task-a/logs`);
  t.same(r.lines.map((l) => l.type === 'log' && l.l), ['only a']);
  const task = await get(`${base}/v1/tasks/task-b`);
  t.equal(JSON.parse(task.text).id, 'task-b', 'GET /v1/tasks/:id');
  const cases: [string, number, RegExp][] = [
    ['/v1/tasks/nope-nope/logs', 404, /task nope-nope not found/],
    ['/v1/tasks/task-/logs', 400, /ambiguous/],
    ['/v1/services/nope/logs', 404, /service nope not found/],
    ['/v1/services/websvc000001/logs?tail=-1', 400, /invalid tail "-1"/],
    ['/v1/services/websvc000001/logs?since=yesterday', 400, /invalid since "yesterday"/],
  ];
  for (const [path, status, re] of cases) {
    const res = await get(base + path);
    t.equal(res.status, status, path);
    t.match(JSON.parse(res.text).error.message, re, path);
  }
});

t.test('follow: lines as they come, from tasks that start later too, until the caller goes away', async (t) => {
  const { nodes, base, web, put } = await setup(t);
  await put(makeTask('task-a', web, { slot: 1, nodeId: 'n1' }));
  nodes.logs.set('task-a', [rec('01.000000000', 'a1')]);
  const abort = new AbortController();
  const res = await request(`${base}/v1/services/websvc000001/logs?follow=1&tail=5`, { signal: abort.signal });
  t.equal(res.statusCode, 200);
  const seen: string[] = [];
  let buf = '';
  const reading = (async () => {
    try {
      for await (const chunk of res.body) {
        buf += chunk;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const l = JSON.parse(buf.slice(0, nl)) as LogLine;
          buf = buf.slice(nl + 1);
          if (l.type === 'log') seen.push(`${l.taskId}:${l.l}`);
        }
      }
    } catch {
      // Aborted at the end of the test.
    }
  })();
  await nodes.followed('task-a');
  nodes.feed('task-a').push([rec('02.000000000', 'a2')]);
  // A restart: the replacement is followed from its first line, without the tail.
  await put(makeTask('task-a2', web, { slot: 1, nodeId: 'n2', state: 'starting' }));
  await nodes.followed('task-a2');
  t.same(nodes.queries.get('task-a2'), { follow: true }, 'a later task: all of its lines');
  nodes.feed('task-a2').push([rec('03.000000000', 'new task line')]);
  await eventually(() => seen.includes('task-a2:new task line'), 'the new task line', 2_000).catch(() => undefined);
  t.same(seen, ['task-a:a1', 'task-a:a2', 'task-a2:new task line']);
  abort.abort();
  await reading;
});

t.test('follow of one task ends when its log ends', async (t) => {
  const { nodes, base, web, put } = await setup(t);
  await put(makeTask('task-a', web, { slot: 1, nodeId: 'n1' }));
  nodes.logs.set('task-a', [rec('01.000000000', 'a1')]);
  const answer = get(`${base}/v1/tasks/task-a/logs?follow=1`);
  await nodes.followed('task-a');
  nodes.feed('task-a').push([rec('02.000000000', 'last')]);
  nodes.feed('task-a').end();
  t.same((await answer).lines.map((l) => l.type === 'log' && l.l), ['a1', 'last']);
});

t.test('pure parts', async (t) => {
  t.same(parseLogParams(new URLSearchParams('tail=all&follow=1')), { follow: true });
  t.same(parseLogParams(new URLSearchParams('tail=3&since=2024-05-06T07:08:09.5%2B02:00')), { follow: false, tail: 3, since: '2024-05-06T07:08:09.5+02:00' });
  const l = (taskId: string, time: string): LogLine => ({ type: 'log', taskId, serviceName: 's', slot: 1, nodeId: 'n', t: time, s: 'out', l: '' });
  t.same(mergeByTime([l('a', '2'), l('b', '1'), l('c', '2'), l('d', '0')]).map((x) => x.taskId), ['d', 'b', 'a', 'c'], 'by time, stable on ties');
});
