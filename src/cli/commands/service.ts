import type { Command } from 'commander';
import { InvalidArgumentError } from '../../errors';
import type { Network, Service, Task } from '../../model/types';
import { clientFor, printJson, type GlobalFlags } from '../context';
import { formatPort } from '../../spec/publish';
import { applyUpdateFlags, collect, parseCount, specFromCreateFlags, type CreateFlags, type UpdateFlags } from '../service-flags';
import { formatDuration } from '../../spec/duration';
import { formatCpus, formatMemory } from '../../spec/resources';
import { waitForConvergence, type ProgressAction } from '../progress';
import { registerServiceLogs } from './service-logs';
import { registerServiceLs } from './service-ls';
import { registerServicePs } from './service-ps';

type Globals = () => GlobalFlags;

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

/** Register `shoal service ...`. */
export function registerService(program: Command, globals: Globals): void {
  const svc = program.command('service').description('Manage services');

  const addSpecFlags = (c: Command) =>
    c
      .option('--restart-condition <condition>', 'Restart when condition is met ("none", "on-failure", "any")')
      .option('--restart-delay <duration>', 'Delay between restart attempts (ns|us|ms|s|m|h)')
      .option('--restart-max-attempts <n>', 'Maximum number of restarts before giving up')
      .option('--restart-window <duration>', 'Window used to evaluate the restart policy')
      .option('--stop-grace-period <duration>', 'Time to wait before force killing a task (default 10s)')
      .option('-w, --workdir <dir>', 'Working directory of the task process')
      .option('--health-cmd <command>', 'Command to run to check health (run with sh -c in the task environment)')
      .option('--health-http <path>', 'HTTP GET this path on the task port to check health (2xx/3xx = healthy)')
      .option('--health-tcp', 'Check health by connecting to the task port')
      .option('--health-interval <duration>', 'Time between running the check (default 30s)')
      .option('--health-timeout <duration>', 'Maximum time to allow one check to run (default 30s)')
      .option('--health-retries <n>', 'Consecutive failures needed to report unhealthy (default 3)')
      .option('--health-start-period <duration>', 'Start period for the task to initialize before failures count (default 0s)')
      .option('--no-healthcheck', 'Disable any health check')
      .option('--replicas-max-per-node <n>', 'Maximum number of tasks per node (default 0 = unlimited)')
      .option('--reserve-cpu <cpus>', 'Reserve CPUs')
      .option('--reserve-memory <bytes>', 'Reserve memory (e.g. 512M)')
      .option('--limit-cpu <cpus>', 'Limit CPUs')
      .option('--limit-memory <bytes>', 'Limit memory (e.g. 512M)')
      .option('--max-concurrent <n>', 'Number of job tasks to run concurrently (default equal to --replicas)')
      .option('--lb-policy <policy>', 'Load-balancing policy ("round-robin", "least-connections", "source-hash")')
      .option('--lb-affinity-timeout <duration>', 'source-hash: how long a client keeps its task after its last connection (default 3h)')
      .option('--idle-timeout <duration>', 'Close TCP connections idle this long (default: never)')
      .option('--max-connections <n>', 'Open connections per published port on each node (default 0 = unlimited)')
      .option('--max-connections-per-backend <n>', 'Open connections per task from each node (default 0 = unlimited)')
      .option('--update-parallelism <n>', 'Maximum number of tasks updated simultaneously (0 to update all at once)')
      .option('--update-delay <duration>', 'Delay between updates (ns|us|ms|s|m|h)')
      .option('--update-failure-action <action>', 'Action on update failure ("pause", "continue", "rollback")')
      .option('--update-monitor <duration>', 'Duration after each task update to monitor for failure (default 5s)')
      .option('--update-max-failure-ratio <ratio>', 'Failure rate to tolerate during an update')
      .option('--update-order <order>', 'Update order ("start-first", "stop-first")')
      .option('--rollback-parallelism <n>', 'Maximum number of tasks rolled back simultaneously (0 to roll back all at once)')
      .option('--rollback-delay <duration>', 'Delay between task rollbacks')
      .option('--rollback-failure-action <action>', 'Action on rollback failure ("pause", "continue")')
      .option('--rollback-monitor <duration>', 'Duration after each task rollback to monitor for failure')
      .option('--rollback-max-failure-ratio <ratio>', 'Failure rate to tolerate during a rollback')
      .option('--rollback-order <order>', 'Rollback order ("start-first", "stop-first")');

  const progress = (client: ReturnType<typeof clientFor>, id: string, action: ProgressAction, detach?: boolean) =>
    detach ? Promise.resolve() : waitForConvergence(client, id, action, { out: process.stdout, tty: !!process.stdout.isTTY });

  addSpecFlags(
    svc
      .command('create')
      .description('Create a new service: shoal service create [OPTIONS] -- COMMAND [ARG...]')
      .option('--name <name>', 'Service name')
      .option('--replicas <n>', 'Number of tasks')
      .option('--mode <mode>', 'Service mode ("replicated", "global", "replicated-job", "global-job")')
      .option('--placement-pref <pref>', 'Add a placement preference (spread=node.labels.<label>)', collect, [])
      .option('-p, --publish <spec>', 'Publish a port as a node port (PUBLISHED:TARGET[/udp] or published=,target=,protocol=,mode=)', collect, [])
      .option('--endpoint-mode <mode>', 'Endpoint mode ("vip" or "dnsrr")')
      .option('--constraint <expr>', 'Placement constraint, e.g. node.labels.zone==east', collect, [])
      .option('-e, --env <KEY=VALUE>', 'Set an environment variable', collect, [])
      .option('-l, --label <KEY=VALUE>', 'Service label', collect, [])
      .option('--network <network>', 'Network to attach (name or id; repeatable; default: the cluster network)', collect, [])
      .option('-q, --quiet', 'Print only the service id')
      .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
      .argument('[command...]', 'command and arguments of each task'),
  ).action(async (command: string[], flags: CreateFlags & { detach?: boolean; quiet?: boolean }) => {
    const spec = specFromCreateFlags(flags, command);
    const client = clientFor(globals());
    const s = await client.call<Service>('POST', '/v1/services', { spec });
    process.stdout.write(`${s.id}\n`);
    await progress(client, s.id, 'create', flags.detach || flags.quiet);
  });

  addSpecFlags(
    svc
      .command('update')
      .description('Update a service: shoal service update [OPTIONS] SERVICE [-- COMMAND [ARG...]]')
      .option('--replicas <n>', 'Number of tasks')
      .option('--publish-add <spec>', 'Add or update a published port', collect, [])
      .option('--publish-rm <port>', 'Remove a published port by its target port', collect, [])
      .option('--constraint-add <expr>', 'Add a placement constraint', collect, [])
      .option('--constraint-rm <expr>', 'Remove a placement constraint', collect, [])
      .option('--env-add <KEY=VALUE>', 'Add or update an environment variable', collect, [])
      .option('--env-rm <KEY>', 'Remove an environment variable', collect, [])
      .option('--label-add <KEY=VALUE>', 'Add or update a service label', collect, [])
      .option('--label-rm <KEY>', 'Remove a label', collect, [])
      .option('--placement-pref-add <pref>', 'Add a placement preference', collect, [])
      .option('--placement-pref-rm <pref>', 'Remove a placement preference', collect, [])
      .option('--network-add <network>', 'Add a network (name or id)', collect, [])
      .option('--network-rm <network>', 'Remove a network (name or id)', collect, [])
      .option('--force', 'Force update even if no changes require it')
      .option('--rollback', 'Roll back to the previous specification')
      .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
      .option('-q, --quiet', 'Suppress progress output')
      .argument('<service>')
      .argument('[command...]', 'new command and arguments'),
  ).action(async (name: string, command: string[], flags: UpdateFlags & { detach?: boolean; quiet?: boolean }) => {
    const client = clientFor(globals());
    const cur = await client.call<Service>('GET', `/v1/services/${encodeURIComponent(name)}`);
    if (flags.rollback) {
      await rollback(client, cur, flags.detach || flags.quiet);
      return;
    }
    const wantsNetworks = (flags.networkAdd?.length ?? 0) > 0 || (flags.networkRm?.length ?? 0) > 0;
    const networks = wantsNetworks ? await client.call<Network[]>('GET', '/v1/networks') : [];
    const spec = applyUpdateFlags(cur.spec, flags, command, networks);
    await client.call<Service>('POST', `/v1/services/${cur.id}/update`, { spec, version: cur.version, force: !!flags.force });
    process.stdout.write(`${cur.spec.name}\n`);
    await progress(client, cur.id, 'update', flags.detach || flags.quiet);
  });

  const rollback = async (client: ReturnType<typeof clientFor>, cur: Service, detach?: boolean) => {
    await client.call<Service>('POST', `/v1/services/${cur.id}/rollback`, { version: cur.version });
    process.stdout.write(`${cur.spec.name}\n`);
    if (!detach) process.stdout.write('rollback: manually requested rollback\n');
    await progress(client, cur.id, 'rollback', detach);
  };

  svc
    .command('rollback')
    .description('Revert changes to a service\'s configuration')
    .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
    .option('-q, --quiet', 'Suppress progress output')
    .argument('<service>')
    .action(async (name: string, flags: { detach?: boolean; quiet?: boolean }) => {
      const client = clientFor(globals());
      const cur = await client.call<Service>('GET', `/v1/services/${encodeURIComponent(name)}`);
      await rollback(client, cur, flags.detach || flags.quiet);
    });

  svc
    .command('scale')
    .description('Scale one or more replicated services: shoal service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]')
    .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
    .argument('<service=replicas...>')
    .action(async (pairs: string[], flags: { detach?: boolean }) => {
      const wanted = pairs.map((p) => {
        const m = /^([^=]+)=(.*)$/.exec(p);
        if (!m) throw new InvalidArgumentError(`invalid scale specifier "${p}": use SERVICE=REPLICAS`);
        return { name: m[1], replicas: parseCount(m[2], 'replica count') };
      });
      const client = clientFor(globals());
      // Check every service first, so a global one or a typo last in the list scales nothing.
      const found: Service[] = [];
      for (const w of wanted) {
        const cur = await client.call<Service>('GET', `/v1/services/${encodeURIComponent(w.name)}`);
        if (cur.spec.mode !== 'replicated' && cur.spec.mode !== 'replicated-job') {
          throw new InvalidArgumentError(`${w.name}: scale can only be used with replicated or replicated-job mode`);
        }
        found.push(cur);
      }
      for (const [i, w] of wanted.entries()) {
        const cur = found[i];
        await client.call('POST', `/v1/services/${cur.id}/update`, { spec: { ...cur.spec, replicas: w.replicas }, version: cur.version });
        process.stdout.write(`${w.name} scaled to ${w.replicas}\n`);
        await progress(client, cur.id, 'scale', flags.detach);
      }
    });

  registerServiceLs(svc, globals);
  registerServicePs(svc, globals);

  svc
    .command('inspect')
    .description('Display detailed information on one or more services')
    .option('--pretty', 'Print the information in a human friendly format')
    .argument('<service...>')
    .action(async (names: string[], flags: { pretty?: boolean }) => {
      const client = clientFor(globals());
      const out: Service[] = [];
      for (const n of names) out.push(await client.call<Service>('GET', `/v1/services/${encodeURIComponent(n)}`));
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

  registerServiceLogs(svc, globals);

  svc
    .command('rm')
    .alias('remove')
    .description('Remove one or more services')
    .argument('<service...>')
    .action(async (names: string[]) => {
      const client = clientFor(globals());
      // Resolve all first, so a typo in the last name removes nothing.
      const found: Service[] = [];
      for (const n of names) found.push(await client.call<Service>('GET', `/v1/services/${encodeURIComponent(n)}`));
      for (const s of found) {
        await client.call('DELETE', `/v1/services/${s.id}`);
        process.stdout.write(`${s.spec.name}\n`);
      }
    });
}
