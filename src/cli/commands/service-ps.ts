/**
 * `shoal service ps`: the tasks of services, Docker's table (current task of
 * each slot, then its history as `\_ web.1` lines) or JSON, with
 * `--filter`, `--no-trunc` and a RESTARTS column.
 */
import type { Command } from 'commander';
import type { ApiClient } from '../../api/client';
import { pendingTrouble } from '../../spec/pending';
import type { Node, Service, Task } from '../../model/types';
import { portKey } from '../../model/types';
import { clientFor, outputFormat, printJson, type GlobalFlags } from '../context';
import { runsCurrentSpec } from '../progress-view';
import { collect } from '../service-flags';
import { humanAge, renderTable } from '../table';
import { matchesFilter, parseTaskFilters } from '../task-filter';
import { shortId, taskName } from '../task-name';
import { getService } from './service-shared';

/** Longest error shown in a table cell unless `--no-trunc` (Docker cuts errors too). */
export const ERROR_COLUMN_CHARS = 40;
/** Longest command shown in a table cell unless `--no-trunc`. */
export const COMMAND_COLUMN_CHARS = 40;

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Cuts `text` to `max` characters with an ellipsis. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The ERROR cell: the task's error (or why a pending task waits), quoted as Docker prints it. */
export function errorCell(t: Task, trunc: boolean): string {
  const err = t.status.err ?? pendingTrouble(t.status);
  if (!err) return '';
  return `"${trunc ? truncate(err, ERROR_COLUMN_CHARS - 2) : err}"`;
}

/** The PORTS cell: the service's host-mode published ports as this task serves them (`*:9000->80/tcp`). */
export function portsCell(t: Task, service: Service | undefined): string {
  if (!service || t.desiredState !== 'running') return '';
  return service.spec.endpoint.ports
    .filter((p) => p.publishMode === 'host')
    .map((p) => {
      const published = p.publishedPort ?? t.status.ports?.[portKey(p.protocol, p.targetPort)];
      return published === undefined ? '' : `*:${published}->${p.targetPort}/${p.protocol}`;
    })
    .filter(Boolean)
    .join(', ');
}

/** Docker's order: by service, slot (or node), then the current task before its history, newest first. */
export function sortForPs(tasks: Task[]): Task[] {
  const groupKey = (t: Task) => `${t.serviceName}\0${String(t.slot).padStart(8, '0')}\0${t.slot === 0 ? t.nodeId : ''}`;
  const current = (t: Task) => (t.desiredState === 'running' ? 0 : 1);
  return [...tasks].sort((a, b) => groupKey(a).localeCompare(groupKey(b)) || current(a) - current(b) || b.createdAt.localeCompare(a.createdAt));
}

/** What the table rows need besides the tasks. */
export interface PsContext {
  nodes: ReadonlyMap<string, Node>;
  services: ReadonlyMap<string, Service>;
  trunc: boolean;
  now: number;
}

/** The table rows for tasks sorted by sortForPs. */
export function psRows(tasks: readonly Task[], ctx: PsContext): string[][] {
  let prevGroup = '';
  return tasks.map((t) => {
    const group = `${t.serviceId}\0${t.slot}\0${t.slot === 0 ? t.nodeId : ''}`;
    const history = group === prevGroup;
    prevGroup = group;
    const command = t.spec.command.join(' ');
    return [
      ctx.trunc ? shortId(t.id) : t.id,
      (history ? ' \\_ ' : '') + taskName(t),
      ctx.trunc ? truncate(command, COMMAND_COLUMN_CHARS) : command,
      ctx.nodes.get(t.nodeId)?.hostname ?? '',
      capital(t.desiredState),
      `${capital(t.status.state)} ${humanAge(t.status.since, ctx.now).toLowerCase()}${t.status.health ? ` (${t.status.health})` : ''}`,
      errorCell(t, ctx.trunc),
      // The slot's current task (wanted running) carries the slot's ports and restart count; history lines none.
      history ? '' : portsCell(t, ctx.services.get(t.serviceId)),
      history || t.desiredState !== 'running' ? '' : String(t.restarts ?? 0),
    ];
  });
}

/** Headers of the `service ps` table. */
export const PS_HEADERS = ['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR', 'PORTS', 'RESTARTS'];

/** One task as `service ps --format json` prints it. */
export function psJson(t: Task, ctx: Omit<PsContext, 'trunc' | 'now'>) {
  return {
    ID: t.id,
    Name: taskName(t),
    Image: t.spec.command.join(' '),
    Node: ctx.nodes.get(t.nodeId)?.hostname ?? '',
    NodeID: t.nodeId,
    DesiredState: capital(t.desiredState),
    CurrentState: capital(t.status.state),
    Health: t.status.health ?? '',
    UpToDate: runsCurrentSpec(t, ctx.services.get(t.serviceId)!),
    Pid: t.status.pid ?? null,
    Since: t.status.since,
    Error: t.status.err ?? '',
    Message: t.status.message,
    Address: t.address,
    Networks: t.networks ?? [],
    Ports: t.status.ports ?? {},
    Slot: t.slot,
    Restarts: t.restarts ?? 0,
  };
}

/** Register `shoal service ps`. */
export function registerServicePs(svc: Command, globals: () => GlobalFlags): void {
  svc
    .command('ps')
    .description('List the tasks of one or more services')
    .option('-f, --filter <KEY=VALUE>', 'Filter output (desired-state=running|shutdown|accepted, node=, id=, name=; repeatable)', collect, [])
    .option('--format <format>', 'table or json')
    .option('--no-trunc', 'Do not truncate output')
    .option('-q, --quiet', 'Only display task IDs')
    .argument('<service...>')
    .action(async (names: string[], flags: PsFlags) => {
      outputFormat(flags.format);
      parseTaskFilters(flags.filter);
      const client = clientFor(globals());
      const services: Service[] = [];
      for (const name of names) services.push(await getService(client, name));
      await printTaskList(client, services, flags);
    });
}

/** The flags of `service ps` and `stack ps`. */
export interface PsFlags {
  filter: string[];
  format?: string;
  trunc: boolean;
  quiet?: boolean;
}

/** `service ps` output for the tasks of `list` (also `stack ps`): Docker's table, IDs only, or JSON. */
export async function printTaskList(client: ApiClient, list: readonly Service[], flags: PsFlags): Promise<void> {
  const format = outputFormat(flags.format);
  const filter = parseTaskFilters(flags.filter);
  const nodes = new Map((await client.call<Node[]>('GET', '/v1/nodes')).map((n) => [n.id, n]));
  const services = new Map(list.map((sv) => [sv.id, sv]));
  const all: Task[] = [];
  for (const sv of list) all.push(...(await client.call<Task[]>('GET', `/v1/tasks?service=${sv.id}`)));
  const tasks = sortForPs(all.filter((t) => matchesFilter(t, filter, nodes)));
  if (format === 'json') return printJson(tasks.map((t) => psJson(t, { nodes, services })));
  if (flags.quiet) return void process.stdout.write(tasks.map((t) => (flags.trunc ? shortId(t.id) : t.id) + '\n').join(''));
  process.stdout.write(renderTable(PS_HEADERS, psRows(tasks, { nodes, services, trunc: flags.trunc, now: Date.now() })));
}
