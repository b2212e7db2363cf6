/**
 * A node's `GET /v1/tasks/:id/logs` over real HTTP against a real executor:
 * NDJSON records, tail and since, 404 for a task the node has no log of,
 * follow until the task ends, 400 for bad values.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import type { LogRecord } from '../../src/agent/executor/log-record';
import { ShoalError } from '../../src/errors';
import { parseLogQuery, serveTaskLogs } from '../../src/daemon/task-logs-endpoint';
import { harness, script } from '../agent/executor/fixtures/harness';
import { makeTask } from '../agent/executor/fixtures/task';

t.test('query values', async (t) => {
  t.same(parseLogQuery(new URLSearchParams('')), { follow: false });
  t.same(parseLogQuery(new URLSearchParams('tail=all&follow=1')), { follow: true });
  t.same(parseLogQuery(new URLSearchParams('tail=5&since=1970-01-01T00:00:01.5Z')), { follow: false, tail: 5, sinceNs: 1_500_000_000n });
  t.throws(() => parseLogQuery(new URLSearchParams('tail=-1')), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  t.throws(() => parseLogQuery(new URLSearchParams('since=soon')), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
});

t.test('served from a real executor', async (t) => {
  const h = harness(t);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const id = url.pathname.split('/')[3];
    serveTaskLogs(h.ex, id, url.searchParams, req, res).catch((err: ShoalError) => {
      res.writeHead(err.status ?? 500);
      res.end(err.code);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/tasks`;
  const get = async (path: string) => {
    const res = await request(base + path);
    const text = await res.body.text();
    return { status: res.statusCode, text, records: res.statusCode === 200 ? text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogRecord) : [] };
  };

  await h.run(makeTask('done', script("console.log('one'); console.error('two'); console.log('three')")));
  await h.final('done');
  const all = await get('/done/logs');
  t.same(all.records.map((r) => `${r.s}:${r.l}`).sort(), ['err:two', 'out:one', 'out:three']);
  t.same((await get('/done/logs?tail=1')).records, all.records.slice(-1));
  t.same((await get(`/done/logs?since=${encodeURIComponent(all.records[1].t)}`)).records, all.records.slice(1));
  t.same((await get('/nope/logs')).status, 404);
  t.same((await get('/done/logs?tail=x')).status, 400);

  await h.run(makeTask('live', script("console.log('first'); setTimeout(() => console.log('later'), 300)")));
  await h.logLine('live', 'first');
  const followed = await get('/live/logs?follow=1');
  t.same(followed.records.map((r) => r.l), ['first', 'later'], 'follow: the answer ends after the task ended');
});
