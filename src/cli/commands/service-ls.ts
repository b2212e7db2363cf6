/**
 * `shoal service ls`: one line per service with its replicas, restarts and,
 * when fewer tasks run than it wants, the newest error of its tasks.
 */
import type { Command } from 'commander';
import type { Service, Task } from '../../model/types';
import { clientFor, outputFormat, printJson, type GlobalFlags } from '../context';
import { progressOf, runsCurrentSpec } from '../progress-view';
import { formatPort } from '../../spec/publish';
import { renderTable } from '../table';
import { shortId } from '../task-name';
import { ERROR_COLUMN_CHARS, truncate } from './service-ps';

/** Running replicas / desired, as `service ls` shows them, with `UPDATING 2/6` while an update or rollback walks. */
export function replicasColumn(s: Service, tasks: Task[]): string {
  const mine = tasks.filter((t) => t.serviceId === s.id);
  const running = mine.filter((t) => t.desiredState === 'running' && t.status.state === 'running').length;
  let col: string;
  if (s.spec.mode === 'replicated-job') {
    col = `${mine.filter((t) => t.status.state === 'complete' && runsCurrentSpec(t, s)).length}/${s.spec.replicas} (${running} running)`;
  } else if (s.spec.mode === 'replicated') {
    col = `${running}/${s.spec.replicas}`;
  } else {
    col = `${running}/${mine.filter((t) => t.desiredState === 'running').length}`;
  }
  const st = s.updateStatus?.state;
  if (st === 'updating' || st === 'rollback_started' || st === 'paused' || st === 'rollback_paused') {
    const p = progressOf(s, tasks);
    col += ` (${st.replace('_started', '').replace('_', ' ').toUpperCase()} ${p.done}/${p.total})`;
  }
  return col;
}

/** Restarts of a service: the sum over its tasks wanted running (each carries its slot's count). */
export function restartsOf(s: Service, tasks: readonly Task[]): number {
  return tasks.filter((t) => t.serviceId === s.id && t.desiredState === 'running').reduce((n, t) => n + (t.restarts ?? 0), 0);
}

/**
 * Why a service runs fewer tasks than it wants: the newest error among its
 * current tasks and the tasks they replaced (a crash-looping slot's current
 * task is often still starting, its predecessor holds the error). Empty when
 * every wanted task runs, and for jobs (they end by design).
 */
export function serviceError(s: Service, tasks: readonly Task[]): string {
  if (s.spec.mode !== 'replicated' && s.spec.mode !== 'global') return '';
  const mine = tasks.filter((t) => t.serviceId === s.id);
  const current = mine.filter((t) => t.desiredState === 'running');
  const wanted = s.spec.mode === 'replicated' ? s.spec.replicas : current.length;
  const running = current.filter((t) => t.status.state === 'running').length;
  if (running >= wanted) return '';
  const bySlot = new Map<string, Task[]>();
  for (const t of mine) {
    const key = t.slot > 0 ? String(t.slot) : t.nodeId;
    bySlot.set(key, [...(bySlot.get(key) ?? []), t]);
  }
  const recent = [...bySlot.values()].flatMap((ts) => [...ts].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, 2));
  const withErr = recent.filter((t) => t.status.err).sort((a, b) => b.status.since.localeCompare(a.status.since));
  return withErr[0]?.status.err ?? '';
}

/** Register `shoal service ls`. */
export function registerServiceLs(svc: Command, globals: () => GlobalFlags): void {
  svc
    .command('ls')
    .alias('list')
    .description('List services')
    .option('--format <format>', 'table or json')
    .option('--no-trunc', 'Do not truncate output')
    .option('-q, --quiet', 'Only display IDs')
    .action(async (flags: { format?: string; quiet?: boolean; trunc: boolean }) => {
      const client = clientFor(globals());
      const [services, tasks] = await Promise.all([client.call<Service[]>('GET', '/v1/services'), client.call<Task[]>('GET', '/v1/tasks')]);
      printServiceList(services, tasks, flags);
    });
}

/** `service ls` output for `services` (also `stack services`): Docker's table, IDs only, or JSON. */
export function printServiceList(services: Service[], tasks: Task[], flags: { format?: string; quiet?: boolean; trunc: boolean }): void {
  const format = outputFormat(flags.format);
  services.sort((a, b) => a.spec.name.localeCompare(b.spec.name));
  if (format === 'json') {
    return printJson(
      services.map((s) => ({
        ID: s.id,
        Name: s.spec.name,
        Mode: s.spec.mode,
        Replicas: replicasColumn(s, tasks),
        Image: s.spec.task.command.join(' '),
        Ports: s.spec.endpoint.ports.map(formatPort).join(', '),
        Restarts: restartsOf(s, tasks),
        Error: serviceError(s, tasks),
      })),
    );
  }
  if (flags.quiet) return void process.stdout.write(services.map((s) => (flags.trunc ? shortId(s.id) : s.id) + '\n').join(''));
  const errors = services.map((s) => serviceError(s, tasks));
  const showErrors = errors.some(Boolean);
  const rows = services.map((s, i) => [
    flags.trunc ? shortId(s.id) : s.id,
    s.spec.name,
    s.spec.mode,
    replicasColumn(s, tasks),
    s.spec.task.command.join(' '),
    s.spec.endpoint.ports.map(formatPort).join(', '),
    String(restartsOf(s, tasks)),
    ...(showErrors ? [errors[i] ? `"${flags.trunc ? truncate(errors[i], ERROR_COLUMN_CHARS - 2) : errors[i]}"` : ''] : []),
  ]);
  process.stdout.write(renderTable(['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS', 'RESTARTS', ...(showErrors ? ['ERROR'] : [])], rows));
}
