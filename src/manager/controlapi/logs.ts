/**
 * `service logs` on the manager: `GET /v1/services/:idOrName/logs` and
 * `GET /v1/tasks/:idOrPrefix/logs` answer NDJSON LogLines read from the
 * nodes that ran the tasks. Without follow, every task's lines merged in time
 * order; with follow=1, lines as they come, from the tasks there are and from
 * tasks that start later (a restart, a scale-up), until the caller goes away.
 * A node that cannot be read becomes one error line for its task.
 */
import type { Logger } from 'pino';
import type { LogRecord } from '../../agent/executor/log-record';
import { parseTimestampNs } from '../../agent/executor/log-record';
import type { LogLine } from '../../api/contract';
import { STREAMING, type RequestContext, type Router } from '../../api/router';
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { KEYS, stateRank, type Node, type Service, type Task } from '../../model/types';
import type { Store, Watcher } from '../../store/store';
import type { NodeLogQuery, NodeLogReader } from './node-log';
import { findTask } from './lookup';

/** Side effects of the logs API. */
export interface LogsApiDeps {
  store: Store;
  logger: Logger;
  /** A service by id, name or unique id prefix; throws NotFoundError. */
  findService(idOrName: string): Promise<Service>;
  readNodeLog: NodeLogReader;
}

/** The query of a logs request: `tail` (an integer or `all`), `since` (RFC3339), `follow=1`. */
export function parseLogParams(params: URLSearchParams): NodeLogQuery {
  const q: NodeLogQuery = { follow: params.get('follow') === '1' || params.get('follow') === 'true' };
  const tail = params.get('tail');
  if (tail !== null && tail !== 'all') {
    if (!/^\d+$/.test(tail)) throw new InvalidArgumentError(`invalid tail "${tail}": use a non-negative integer or all`);
    q.tail = Number(tail);
  }
  const since = params.get('since');
  if (since !== null && since !== '') {
    if (parseTimestampNs(since) === undefined) throw new InvalidArgumentError(`invalid since "${since}": use an RFC3339 time`);
    q.since = since;
  }
  return q;
}

/** Whether a task may have a log on its node: it reached one and got as far as starting (or ended). */
export function mayHaveLog(t: Task): boolean {
  return t.nodeId !== '' && stateRank(t.status.state) >= stateRank('starting');
}

/** The lines of several tasks in time order; lines of one time keep their order (the sort is stable). */
export function mergeByTime(lines: LogLine[]): LogLine[] {
  const time = (l: LogLine) => (l.type === 'log' ? l.t : '');
  return [...lines].sort((a, b) => (time(a) < time(b) ? -1 : time(a) > time(b) ? 1 : 0));
}

const logLine = (t: Task, r: LogRecord): LogLine => ({
  type: 'log',
  taskId: t.id,
  serviceName: t.serviceName,
  slot: t.slot,
  nodeId: t.nodeId,
  t: r.t,
  s: r.s,
  l: r.l,
  ...(r.p && { p: true }),
});
const errorLine = (t: Task, message: string): LogLine => ({ type: 'error', taskId: t.id, serviceName: t.serviceName, slot: t.slot, nodeId: t.nodeId, message });

/** The manager's logs endpoints. */
export class LogsApi {
  constructor(private readonly deps: LogsApiDeps) {}

  /** Registers the endpoints. */
  routes(router: Router): void {
    router
      .on('GET', '/v1/services/:id/logs', async (c) => {
        const service = await this.deps.findService(c.params.id);
        return this.serve(c, (t) => t.serviceId === service.id, false);
      })
      .on('GET', '/v1/tasks/:id/logs', async (c) => {
        const task = await findTask(this.deps.store, c.params.id);
        return this.serve(c, (t) => t.id === task.id, true);
      });
  }

  private async serve(c: RequestContext, inScope: (t: Task) => boolean, single: boolean): Promise<typeof STREAMING> {
    const query = parseLogParams(c.query);
    const { kvs, revision } = await this.deps.store.range<Task>(KEYS.tasks);
    const tasks = kvs.map((kv) => kv.value).filter((t) => inScope(t) && mayHaveLog(t));
    tasks.sort((a, b) => a.slot - b.slot || a.nodeId.localeCompare(b.nodeId) || a.createdAt.localeCompare(b.createdAt));
    const res = c.res;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const send = (lines: LogLine[]) => {
      if (lines.length && !res.writableEnded) res.write(lines.map((l) => JSON.stringify(l) + '\n').join(''));
    };
    const abort = new AbortController();
    res.on('close', () => abort.abort());

    if (!query.follow) {
      const perTask = await Promise.all(tasks.map((t) => this.collect(t, query, abort.signal)));
      send(perTask.flatMap((lines) => lines.filter((l) => l.type === 'error')));
      send(mergeByTime(perTask.flatMap((lines) => lines.filter((l) => l.type === 'log'))));
      res.end();
      return STREAMING;
    }

    c.req.socket.setTimeout(0);
    res.flushHeaders();
    const followed = new Set<string>();
    let active = 0;
    let watcher: Watcher | undefined;
    const end = () => {
      watcher?.cancel();
      abort.abort();
      if (!res.writableEnded) res.end();
    };
    const follow = async (t: Task, q: NodeLogQuery) => {
      if (followed.has(t.id) || abort.signal.aborted) return;
      followed.add(t.id);
      active++;
      try {
        const node = (await this.deps.store.get<Node>(KEYS.node(t.nodeId)))?.value;
        if (!node) throw new NotFoundError('node is gone');
        await this.deps.readNodeLog(node, t.id, q, (rs) => send(rs.map((r) => logLine(t, r))), abort.signal);
      } catch (err) {
        if (!abort.signal.aborted) send([errorLine(t, (err as Error).message)]);
      } finally {
        active--;
        // A single task's log is over when its node ends it; a service's goes on (tasks may start later).
        if (single && active === 0) end();
      }
    };
    for (const t of tasks) void follow(t, query);
    // Tasks that start later: all their lines (no tail: they are new), from the same time on.
    const later: NodeLogQuery = { follow: true, ...(query.since && { since: query.since }) };
    watcher = this.deps.store.watch(KEYS.tasks, revision + 1, {
      onEvents: (events) => {
        for (const e of events) {
          const t = e.kv.value as Task;
          if (e.type === 'put' && inScope(t) && mayHaveLog(t)) void follow(t, later);
        }
      },
      onError: end,
    });
    res.on('close', end);
    return STREAMING;
  }

  /** One task's lines, or the error line that says why there are none. */
  private async collect(t: Task, query: NodeLogQuery, signal: AbortSignal): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    try {
      const node = (await this.deps.store.get<Node>(KEYS.node(t.nodeId)))?.value;
      if (!node) throw new NotFoundError('node is gone');
      await this.deps.readNodeLog(node, t.id, query, (rs) => lines.push(...rs.map((r) => logLine(t, r))), signal);
    } catch (err) {
      this.deps.logger.debug({ taskId: t.id, err: (err as Error).message }, 'task log not read');
      return [errorLine(t, (err as Error).message)];
    }
    return lines;
  }
}
