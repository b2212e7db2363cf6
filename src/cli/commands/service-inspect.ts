/** `shoal service inspect [--pretty] SERVICE...`: the services as JSON, or Docker's human-friendly layout. */
import type { Command } from 'commander';
import type { Network, Service, Task } from '../../model/types';
import { formatDuration } from '../../spec/duration';
import { formatPort } from '../../spec/publish';
import { formatCpus, formatMemory } from '../../spec/resources';
import { clientFor, printJson } from '../context';
import { getService, type Globals } from './service-shared';

const commandText = (argv: string[]) => argv.join(' ');

/** One line describing a health check, for `inspect --pretty`. */
function describeHealth(h: NonNullable<Service['spec']['task']['healthcheck']>): string {
  const what = h.kind === 'cmd' ? `cmd ${JSON.stringify(h.command)}` : h.kind === 'http' ? `http GET ${h.path}` : 'tcp connect';
  return `${what}, interval ${formatDuration(h.intervalMs)}, timeout ${formatDuration(h.timeoutMs)}, retries ${h.retries}, start period ${formatDuration(h.startPeriodMs)}`;
}

/** The service's networks with its VIP on each, for `inspect --pretty`. */
export function describeNetworks(s: Service, networks: readonly Network[]): string[] {
  const byId = new Map(networks.map((n) => [n.id, n]));
  const ids = s.spec.networks?.length ? s.spec.networks : networks.filter((n) => n.builtin).map((n) => n.id);
  if (ids.length === 0) return [];
  const lines = ids.map((id) => {
    const n = byId.get(id);
    const vip = s.endpoint.virtualIPs?.find((v) => v.networkId === id);
    return ` ${n?.name ?? id}${n ? ` (${n.subnet})` : ''}:\t${vip ? `VIP ${vip.address}` : 'no VIP'}`;
  });
  return [`Networks:\n${lines.join('\n')}`];
}

/** Reservations and limits, for `inspect --pretty`. */
function describeResources(s: Service): string[] {
  const r = s.spec.task.resources;
  if (!r) return [];
  const fmt = (x?: { nanoCpus?: number; memoryBytes?: number }) =>
    [x?.nanoCpus ? formatCpus(x.nanoCpus) : '', x?.memoryBytes ? formatMemory(x.memoryBytes) : ''].filter(Boolean).join(', ') || '-';
  return [`Resources:\n Reservations:\t${fmt(r.reservations)}\n Limits:\t${fmt(r.limits)}`];
}

/** Register `service inspect`. */
export function registerServiceInspect(svc: Command, globals: Globals): void {
  svc
    .command('inspect')
    .description('Display detailed information on one or more services')
    .option('--pretty', 'Print the information in a human friendly format')
    .argument('<service...>')
    .action(async (names: string[], flags: { pretty?: boolean }) => {
      const client = clientFor(globals());
      const out: Service[] = [];
      for (const n of names) out.push(await getService(client, n));
      if (!flags.pretty) return printJson(out);
      const networks = await client.call<Network[]>('GET', '/v1/networks');
      // Limits the platform could not apply are reported by each task's start message.
      const limitNotes = new Map<string, string[]>();
      for (const s of out) {
        if (!s.spec.task.resources?.limits) continue;
        const tasks = await client.call<Task[]>('GET', `/v1/tasks?service=${s.id}`);
        const notes = [...new Set(tasks.map((t) => /limits not applied: .*/.exec(t.status.message)?.[0]).filter((x): x is string => !!x))];
        limitNotes.set(s.id, notes.map((n) => ` Note:\t\t${n}`));
      }
      for (const s of out) {
        process.stdout.write(
          [
            `ID:\t\t${s.id}`,
            `Name:\t\t${s.spec.name}`,
            `Mode:\t\t${s.spec.mode === 'replicated' ? `Replicated\n Replicas:\t${s.spec.replicas}` : 'Global'}`,
            `Command:\t${commandText(s.spec.task.command)}`,
            ...describeNetworks(s, networks),
            `Endpoint Mode:\t${s.spec.endpoint.mode}`,
            `Ports:\t\t${s.spec.endpoint.ports.map(formatPort).join(', ')}`,
            `Constraints:\t${s.spec.task.placement.constraints.join(', ')}`,
            ...(s.spec.task.placement.preferences?.length ? [`Preferences:\t${s.spec.task.placement.preferences.map((p) => `spread=${p.spread}`).join(', ')}`] : []),
            ...(s.spec.task.healthcheck ? [`Healthcheck:\t${describeHealth(s.spec.task.healthcheck)}`] : []),
            ...describeResources(s),
            ...(limitNotes.get(s.id) ?? []),
            ...(s.updateStatus ? [`UpdateStatus:\n State:\t\t${s.updateStatus.state}\n Started:\t${s.updateStatus.startedAt}${s.updateStatus.completedAt ? `\n Completed:\t${s.updateStatus.completedAt}` : ''}\n Message:\t${s.updateStatus.message}`] : []),
            ...(['updateConfig', 'rollbackConfig'] as const).map((k) => {
              const u = s.spec[k];
              return u ? `${k === 'updateConfig' ? 'UpdateConfig' : 'RollbackConfig'}:\n Parallelism:\t${u.parallelism}\n Delay:\t\t${formatDuration(u.delayMs)}\n On failure:\t${u.failureAction}\n Monitoring Period: ${formatDuration(u.monitorMs)}\n Max failure ratio: ${u.maxFailureRatio}\n Update order:\t${u.order}` : '';
            }).filter(Boolean),
            `RestartPolicy:\n Condition:\t${s.spec.task.restartPolicy.condition}\n Delay:\t\t${formatDuration(s.spec.task.restartPolicy.delayMs)}\n Max attempts:\t${s.spec.task.restartPolicy.maxAttempts}`,
            '',
          ].join('\n'),
        );
      }
    });
}
