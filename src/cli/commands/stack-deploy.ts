/**
 * `shoal stack deploy -c FILE [-c FILE2] [--prune] [-d] NAME`: Docker's
 * command. The files are read, merged and checked, the plan is compared with
 * the cluster, and only then does anything change: networks, secrets and
 * configs first, then services, each changed one through the rolling
 * updater with its progress.
 */
import type { Command } from 'commander';
import type { ApiClient } from '../../api/client';
import type { PayloadCreateRequest } from '../../api/contract';
import type { Network, Service, ServiceSpec } from '../../model/types';
import { diffStack, type ObservedPayload, type StackChanges } from '../../stack/stack-diff';
import { planStack, validateStackName } from '../../stack/stack-plan';
import { clientFor } from '../context';
import { collect } from '../service-flags';
import { progress, type Globals } from './service-shared';

/** Flags of `stack deploy`. */
interface DeployFlags {
  composeFile: string[];
  prune?: boolean;
  detach?: boolean;
  quiet?: boolean;
}

/** What the cluster holds, for the diff. */
export async function observe(client: ApiClient) {
  const [services, networks, secrets, configs] = await Promise.all([
    client.call<Service[]>('GET', '/v1/services'),
    client.call<Network[]>('GET', '/v1/networks'),
    client.call<ObservedPayload[]>('GET', '/v1/secrets'),
    client.call<ObservedPayload[]>('GET', '/v1/configs'),
  ]);
  return { services, networks, secrets, configs };
}

async function apply(client: ApiClient, changes: StackChanges, say: (line: string) => void): Promise<{ service: Service; action: 'create' | 'update' }[]> {
  for (const n of changes.createNetworks) {
    say(`Creating network ${n.name}`);
    await client.call('POST', '/v1/networks', { name: n.name, driver: 'overlay', labels: n.labels, ...(n.subnet && { subnet: n.subnet }) });
  }
  for (const p of changes.createPayloads) {
    say(`Creating ${p.kind} ${p.name}`);
    const req: PayloadCreateRequest = { name: p.name, labels: p.labels, data: p.data!.toString('base64') };
    await client.call('POST', `/v1/${p.kind}s`, req);
  }
  for (const name of changes.keptSecrets) say(`Secret ${name} exists: kept as it is (secrets cannot change; give new data a new name)`);
  const walks: { service: Service; action: 'create' | 'update' }[] = [];
  for (const s of changes.remove) {
    say(`Removing service ${s.spec.name}`);
    await client.call('DELETE', `/v1/services/${s.id}`);
  }
  for (const { current, spec } of changes.update) {
    say(`Updating service ${spec.name} (id: ${current.id})`);
    const service = await client.call<Service>('POST', `/v1/services/${current.id}/update`, { spec, version: current.version });
    walks.push({ service, action: 'update' });
  }
  for (const s of changes.unchanged) say(`Service ${s.spec.name} is up to date`);
  for (const spec of changes.create as ServiceSpec[]) {
    say(`Creating service ${spec.name}`);
    const service = await client.call<Service>('POST', '/v1/services', { spec });
    walks.push({ service, action: 'create' });
  }
  for (const s of changes.stale) say(`Service ${s.spec.name} is no longer in the compose file: kept (--prune removes it)`);
  return walks;
}

/** Register `stack deploy`. */
export function registerStackDeploy(stack: Command, globals: Globals): void {
  stack
    .command('deploy')
    .alias('up')
    .description('Deploy a new stack or update an existing stack: shoal stack deploy -c FILE [-c FILE] NAME')
    .option('-c, --compose-file <file>', 'Path to a Compose file (repeatable: later files override earlier ones)', collect, [])
    .option('--prune', 'Prune services that are no longer referenced')
    .option('-d, --detach', 'Exit immediately instead of waiting for the services to converge')
    .option('-q, --quiet', 'Suppress progress output')
    .argument('<stack>')
    .action(async (name: string, flags: DeployFlags) => {
      validateStackName(name);
      // yaml and ajv load here, not with every command.
      const { loadComposeFiles } = await import('../../stack/compose-file.js');
      const loaded = loadComposeFiles(flags.composeFile, process.env);
      const warnings = [...loaded.warnings];
      const plan = planStack(loaded, name, warnings);
      const client = clientFor(globals());
      const changes = diffStack(plan, await observe(client), !!flags.prune);
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
      const say = (line: string) => process.stdout.write(`${line}\n`);
      const walks = await apply(client, changes, say);
      if (flags.detach || flags.quiet) return;
      for (const { service, action } of walks) {
        say(`${service.spec.name}:`);
        await progress(client, service.id, action);
      }
    });
}
