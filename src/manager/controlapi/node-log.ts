/**
 * Reads one task's log from the node that ran it: `GET /v1/tasks/:id/logs`
 * on the node's metrics port (daemon/task-logs-endpoint.ts), NDJSON records,
 * over mutual TLS with this manager's certificate, checking that the node's
 * certificate names that node. The manager's side effect for logs, behind
 * an interface so the logs API can be tested with a fake.
 */
import { request } from 'undici';
import type { LogRecord } from '../../agent/executor/log-record';
import type { Node } from '../../model/types';
import { mtlsDispatcher, type NodeCredentials } from '../../pki';
import { LogStreamBrokenError, NodeRequestFailedError, NodeUnreachableError } from '../../errors';

/** How long a node may take to answer a log request (headers, and each body chunk unless following). */
export const NODE_LOG_TIMEOUT_MS = 5_000;

/** Which records to ask a node for. */
export interface NodeLogQuery {
  tail?: number;
  /** RFC3339 time. */
  since?: string;
  follow: boolean;
}

/** Streams a task's records from its node into onRecords; resolves when the node ends the answer (a task it has no log of: at once). */
export type NodeLogReader = (node: Node, taskId: string, query: NodeLogQuery, onRecords: (r: LogRecord[]) => void, signal: AbortSignal) => Promise<void>;

/** The real reader, over https with undici; throws an Error naming the node when it cannot be read. */
export function httpNodeLogReader(credentials: () => NodeCredentials | undefined): NodeLogReader {
  return async (node, taskId, query, onRecords, signal) => {
    const qs = new URLSearchParams();
    if (query.tail !== undefined) qs.set('tail', String(query.tail));
    if (query.since) qs.set('since', query.since);
    if (query.follow) qs.set('follow', '1');
    const creds = credentials();
    if (!creds) throw new NodeUnreachableError(`node ${node.hostname}: this manager has no certificate to read task logs with`);
    const dispatcher = mtlsDispatcher(creds, { serverName: node.id });
    try {
      let res;
      try {
        res = await request(`https://${node.address}:${node.ports.metrics}/v1/tasks/${encodeURIComponent(taskId)}/logs?${qs}`, {
          dispatcher,
          signal,
          headersTimeout: NODE_LOG_TIMEOUT_MS,
          bodyTimeout: query.follow ? 0 : NODE_LOG_TIMEOUT_MS,
        });
      } catch (err) {
        if (signal.aborted) return;
        throw new NodeUnreachableError(`node ${node.hostname} unreachable: ${(err as Error).message}`);
      }
      if (res.statusCode === 404) {
        // The task never wrote a log there (stopped before it started, or its files are gone).
        await res.body.dump();
        return;
      }
      if (res.statusCode !== 200) {
        const text = await res.body.text().catch(() => '');
        let message = text.slice(0, 200);
        try {
          message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
        } catch {
          // Not JSON: the text itself.
        }
        throw new NodeRequestFailedError(`node ${node.hostname} answered ${res.statusCode}: ${message}`);
      }
      let buf = '';
      try {
        for await (const chunk of res.body) {
          buf += (chunk as Buffer).toString('utf8');
          const nl = buf.lastIndexOf('\n');
          if (nl < 0) continue;
          const lines = buf.slice(0, nl).split('\n').filter(Boolean);
          buf = buf.slice(nl + 1);
          onRecords(lines.map((l) => JSON.parse(l) as LogRecord));
        }
      } catch (err) {
        if (signal.aborted) return;
        throw new LogStreamBrokenError(`log stream from node ${node.hostname} broke: ${(err as Error).message}`);
      }
    } finally {
      // One connection per read: the agent goes with it.
      void dispatcher.close();
    }
  };
}
