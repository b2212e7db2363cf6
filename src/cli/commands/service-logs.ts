/**
 * `shoal service logs SERVICE|TASK`: the lines its tasks wrote, merged in
 * time order, or followed as they come (`-f`, until Ctrl-C), with Docker's
 * `web.1.<task id>@node    | ` prefix, `--timestamps`, `--since`, `--tail`.
 */
import type { Command } from 'commander';
import type { LogLine } from '../../api/contract';
import { NotFoundError, InvalidArgumentError } from '../../errors';
import type { Node, Service, Task } from '../../model/types';
import { clientFor, type GlobalFlags } from '../context';
import { parseSince } from '../log-since';
import { shortId, taskName } from '../task-name';

/** Lines per task shown when `--tail` is not given (`--tail all` shows everything). */
export const DEFAULT_LOG_TAIL = 1_000;

/** `--tail`: `all` or a non-negative integer. */
export function parseTail(v: string | undefined): number | 'all' {
  if (v === undefined) return DEFAULT_LOG_TAIL;
  if (v === 'all') return 'all';
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`invalid tail "${v}": use a non-negative integer or all`);
  return Number(v);
}

/** How log lines are printed. */
export interface LogFormat {
  timestamps: boolean;
  taskIds: boolean;
  /** Hostnames by node id (a node not in it shows its id). */
  hostnames: ReadonlyMap<string, string>;
}

/** Docker's context prefix of a line: `web.1.abc123def456@node-1`. */
export function logContext(l: LogLine, f: LogFormat): string {
  const task = taskName(l) + (f.taskIds ? `.${shortId(l.taskId)}` : '');
  return `${task}@${f.hostnames.get(l.nodeId) ?? l.nodeId}`;
}

/** A line as printed: the time first with `--timestamps` (as Docker), then the context and the text. Errors say so. */
export function formatLogLine(l: LogLine, f: LogFormat): string {
  const ctx = logContext(l, f);
  if (l.type === 'error') return `${ctx}    | error: ${l.message}\n`;
  return `${f.timestamps && l.t ? `${l.t} ` : ''}${ctx}    | ${l.l}\n`;
}

/** The logs path of a service or, failing that, of a task (id or unique prefix), as Docker's `service logs` takes either. */
async function logsPath(client: ReturnType<typeof clientFor>, target: string): Promise<string> {
  const enc = encodeURIComponent(target);
  try {
    const s = await client.call<Service>('GET', `/v1/services/${enc}`);
    return `/v1/services/${s.id}/logs`;
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  try {
    const t = await client.call<Task>('GET', `/v1/tasks/${enc}`);
    return `/v1/tasks/${t.id}/logs`;
  } catch (err) {
    if (err instanceof NotFoundError) throw new NotFoundError(`no such service or task: ${target}`);
    throw err;
  }
}

/** Register `shoal service logs`. */
export function registerServiceLogs(svc: Command, globals: () => GlobalFlags): void {
  svc
    .command('logs')
    .description('Fetch the logs of a service or a task')
    .option('-f, --follow', 'Follow log output (until Ctrl-C)')
    .option('-t, --timestamps', 'Show timestamps')
    .option('--since <time>', 'Show logs since a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)')
    .option('-n, --tail <lines>', `Number of lines to show from the end of each task log, or "all" (default ${DEFAULT_LOG_TAIL})`)
    .option('--no-task-ids', 'Do not include task IDs in output')
    .argument('<service|task>')
    .action(async (target: string, flags: { follow?: boolean; timestamps?: boolean; since?: string; tail?: string; taskIds: boolean }) => {
      const tail = parseTail(flags.tail);
      const since = flags.since === undefined ? undefined : parseSince(flags.since, Date.now());
      const client = clientFor(globals());
      const [path, nodes] = await Promise.all([logsPath(client, target), client.call<Node[]>('GET', '/v1/nodes')]);
      const format: LogFormat = { timestamps: !!flags.timestamps, taskIds: flags.taskIds, hostnames: new Map(nodes.map((n) => [n.id, n.hostname])) };
      const qs = new URLSearchParams({ tail: String(tail) });
      if (since) qs.set('since', since);
      if (flags.follow) qs.set('follow', '1');
      const abort = new AbortController();
      // Ctrl-C ends a follow; the command then exits 0, as Docker's does.
      const stop = () => abort.abort();
      process.once('SIGINT', stop);
      try {
        await client.stream<LogLine>(`${path}?${qs}`, (l) => (l.type === 'error' ? process.stderr : process.stdout).write(formatLogLine(l, format)), abort.signal);
      } finally {
        process.removeListener('SIGINT', stop);
      }
    });
}
