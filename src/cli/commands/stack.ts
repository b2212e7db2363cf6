/**
 * `shoal stack ls|services|ps|rm` (deploy is in stack-deploy.ts): a stack
 * is every service, network, secret and config labelled with its name
 * (com.docker.stack.namespace), as in Docker.
 */
import type { Command } from 'commander';
import type { ApiClient } from '../../api/client';
import { NetworkInUseError, NotFoundError, PayloadInUseError } from '../../errors';
import type { Service, Task } from '../../model/types';
import { STACK_LABELS } from '../../stack/compose-service';
import { inStack } from '../../stack/stack-diff';
import { clientFor, outputFormat, printJson } from '../context';
import { collect } from '../service-flags';
import { renderTable } from '../table';
import { printServiceList } from './service-ls';
import { printTaskList, type PsFlags } from './service-ps';
import type { Globals } from './service-shared';
import { observe, registerStackDeploy } from './stack-deploy';

/** How long `stack rm` retries a network or secret its removed services' tasks still hold. */
const RELEASE_TIMEOUT_MS = 60_000;
const RELEASE_POLL_MS = 250;

async function stackServices(client: ApiClient, ns: string): Promise<Service[]> {
  const services = (await client.call<Service[]>('GET', '/v1/services')).filter((s) => inStack(s.spec.labels, ns));
  if (services.length === 0) throw new NotFoundError(`nothing found in stack: ${ns}`);
  return services;
}

/** DELETE, again while the object is still in use by tasks that are stopping. */
async function removeWhenReleased(client: ApiClient, url: string): Promise<void> {
  const deadline = Date.now() + RELEASE_TIMEOUT_MS;
  for (;;) {
    try {
      return void (await client.call('DELETE', url));
    } catch (err) {
      const inUse = err instanceof NetworkInUseError || err instanceof PayloadInUseError;
      if (!inUse || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, RELEASE_POLL_MS));
    }
  }
}

async function removeStack(client: ApiClient, ns: string, say: (line: string) => void): Promise<void> {
  const all = await observe(client);
  const services = all.services.filter((s) => inStack(s.spec.labels, ns));
  const secrets = all.secrets.filter((x) => inStack(x.labels, ns));
  const configs = all.configs.filter((x) => inStack(x.labels, ns));
  const networks = all.networks.filter((n) => inStack(n.labels, ns));
  if (services.length + secrets.length + configs.length + networks.length === 0) throw new NotFoundError(`nothing found in stack: ${ns}`);
  for (const s of services) {
    say(`Removing service ${s.spec.name}`);
    await client.call('DELETE', `/v1/services/${s.id}`);
  }
  for (const [kind, items] of [['secret', secrets], ['config', configs]] as const) {
    for (const x of items) {
      say(`Removing ${kind} ${x.name}`);
      await removeWhenReleased(client, `/v1/${kind}s/${x.id}`);
    }
  }
  for (const n of networks) {
    say(`Removing network ${n.name}`);
    await removeWhenReleased(client, `/v1/networks/${n.id}`);
  }
}

/** Register `shoal stack ...`. */
export function registerStack(program: Command, globals: Globals): void {
  const stack = program.command('stack').description('Manage stacks: services, networks, secrets and configs from compose files');
  registerStackDeploy(stack, globals);

  stack
    .command('ls')
    .alias('list')
    .description('List stacks')
    .option('--format <format>', 'table or json')
    .action(async (flags: { format?: string }) => {
      const format = outputFormat(flags.format);
      const services = await clientFor(globals()).call<Service[]>('GET', '/v1/services');
      const counts = new Map<string, number>();
      for (const s of services) {
        const ns = s.spec.labels[STACK_LABELS.namespace];
        if (ns) counts.set(ns, (counts.get(ns) ?? 0) + 1);
      }
      const rows = [...counts].sort(([a], [b]) => a.localeCompare(b));
      if (format === 'json') return printJson(rows.map(([Name, Services]) => ({ Name, Services })));
      process.stdout.write(renderTable(['NAME', 'SERVICES'], rows.map(([n, c]) => [n, String(c)])));
    });

  stack
    .command('services')
    .description('List the services in the stack')
    .option('--format <format>', 'table or json')
    .option('--no-trunc', 'Do not truncate output')
    .option('-q, --quiet', 'Only display IDs')
    .argument('<stack>')
    .action(async (ns: string, flags: { format?: string; quiet?: boolean; trunc: boolean }) => {
      outputFormat(flags.format);
      const client = clientFor(globals());
      const services = await stackServices(client, ns);
      printServiceList(services, await client.call<Task[]>('GET', '/v1/tasks'), flags);
    });

  stack
    .command('ps')
    .description('List the tasks in the stack')
    .option('-f, --filter <KEY=VALUE>', 'Filter output (desired-state=, node=, id=, name=; repeatable)', collect, [])
    .option('--format <format>', 'table or json')
    .option('--no-trunc', 'Do not truncate output')
    .option('-q, --quiet', 'Only display task IDs')
    .argument('<stack>')
    .action(async (ns: string, flags: PsFlags) => {
      outputFormat(flags.format);
      const client = clientFor(globals());
      await printTaskList(client, await stackServices(client, ns), flags);
    });

  stack
    .command('rm')
    .aliases(['remove', 'down'])
    .description('Remove one or more stacks')
    .argument('<stack...>')
    .action(async (names: string[]) => {
      const client = clientFor(globals());
      for (const ns of names) await removeStack(client, ns, (line) => process.stdout.write(`${line}\n`));
    });
}
