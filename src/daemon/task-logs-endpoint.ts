import type http from 'node:http';
import type { LogRecord } from '../agent/executor/log-record';
import { parseTimestampNs } from '../agent/executor/log-record';
import type { LogQuery } from '../agent/executor/task-log';
import { InvalidArgumentError } from '../errors';

/** What the endpoint needs of the executor. */
export interface TaskLogSource {
  logs(taskId: string, query: LogQuery): Promise<LogRecord[]>;
  followLogs(taskId: string, query: LogQuery, onRecords: (r: LogRecord[]) => void, signal: AbortSignal): Promise<void>;
}

/**
 * Reads `?tail=N` (absent: all), `?since=<RFC3339>` and `?follow=1` of a
 * node's task log request; throws InvalidArgumentError for a bad value.
 */
export function parseLogQuery(params: URLSearchParams): LogQuery & { follow: boolean } {
  const out: LogQuery & { follow: boolean } = { follow: params.get('follow') === '1' };
  const tail = params.get('tail');
  if (tail !== null && tail !== 'all') {
    if (!/^\d+$/.test(tail)) throw new InvalidArgumentError(`invalid tail "${tail}": use a non-negative integer`);
    out.tail = Number(tail);
  }
  const since = params.get('since');
  if (since !== null && since !== '') {
    const ns = parseTimestampNs(since);
    if (ns === undefined) throw new InvalidArgumentError(`invalid since "${since}": use an RFC3339 time`);
    out.sinceNs = ns;
  }
  return out;
}

/**
 * `GET /v1/tasks/:id/logs` on a node: the task's log records as NDJSON, one
 * LogRecord a line; with follow=1 the answer stays open and carries new lines
 * until the task ended and its log is read, or the caller goes away.
 * Validation errors throw before anything is written.
 */
export async function serveTaskLogs(source: TaskLogSource, taskId: string, params: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const query = parseLogQuery(params);
  const send = (records: LogRecord[]) => res.write(records.map((r) => JSON.stringify(r) + '\n').join(''));
  if (!query.follow) {
    const records = await source.logs(taskId, query);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    send(records);
    return void res.end();
  }
  // Throws NotFoundError (a 404) for a task this node has no log of, before the answer starts.
  await source.logs(taskId, { tail: 0 });
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  req.socket.setTimeout(0);
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  // Headers now, so the caller knows the task is found even before its first line.
  res.flushHeaders();
  try {
    await source.followLogs(taskId, query, send, abort.signal);
  } catch {
    // The answer has started: all that is left is to end it (the log was removed, a read failed).
  }
  res.end();
}
