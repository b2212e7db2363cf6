/**
 * `shoal service update [OPTIONS] SERVICE [-- COMMAND...]` and `shoal service
 * rollback SERVICE`: the new spec (or the previous one back) is posted with
 * the version it was based on, then the walk is awaited.
 */
import type { Command } from 'commander';
import type { ApiClient } from '../../api/client';
import type { Network, Service } from '../../model/types';
import { clientFor } from '../context';
import { applyUpdateFlags, collect, type UpdateFlags } from '../service-flags';
import { addSpecFlags, getService, progress, type Globals } from './service-shared';
import { applyPayloadUpdateFlags, type PayloadUpdateFlags } from '../payload-flags';

/** Register `service update` and `service rollback`. */
export function registerServiceUpdate(svc: Command, globals: Globals): void {
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
      .option('--secret-add <secret>', 'Add a secret: NAME or source=,target=,uid=,gid=,mode=', collect, [])
      .option('--secret-rm <secret>', 'Remove a secret (name or id)', collect, [])
      .option('--config-add <config>', 'Add a config: NAME or source=,target=/path,uid=,gid=,mode=', collect, [])
      .option('--config-rm <config>', 'Remove a config (name or id)', collect, [])
      .option('--force', 'Force update even if no changes require it')
      .option('--rollback', 'Roll back to the previous specification')
      .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
      .option('-q, --quiet', 'Suppress progress output')
      .argument('<service>')
      .argument('[command...]', 'new command and arguments'),
  ).action(async (name: string, command: string[], flags: UpdateFlags & PayloadUpdateFlags & { detach?: boolean; quiet?: boolean }) => {
    const client = clientFor(globals());
    const cur = await getService(client, name);
    if (flags.rollback) {
      await rollback(client, cur, flags.detach || flags.quiet);
      return;
    }
    const wantsNetworks = (flags.networkAdd?.length ?? 0) > 0 || (flags.networkRm?.length ?? 0) > 0;
    const networks = wantsNetworks ? await client.call<Network[]>('GET', '/v1/networks') : [];
    const spec = applyUpdateFlags(cur.spec, flags, command, networks);
    applyPayloadUpdateFlags(spec, flags);
    await client.call<Service>('POST', `/v1/services/${cur.id}/update`, { spec, version: cur.version, force: !!flags.force });
    process.stdout.write(`${cur.spec.name}\n`);
    await progress(client, cur.id, 'update', flags.detach || flags.quiet);
  });

  svc
    .command('rollback')
    .description('Revert changes to a service\'s configuration')
    .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
    .option('-q, --quiet', 'Suppress progress output')
    .argument('<service>')
    .action(async (name: string, flags: { detach?: boolean; quiet?: boolean }) => {
      const client = clientFor(globals());
      const cur = await getService(client, name);
      await rollback(client, cur, flags.detach || flags.quiet);
    });
}

/** Ask for the previous spec back and wait for the rollback. */
async function rollback(client: ApiClient, cur: Service, detach?: boolean): Promise<void> {
  await client.call<Service>('POST', `/v1/services/${cur.id}/rollback`, { version: cur.version });
  process.stdout.write(`${cur.spec.name}\n`);
  if (!detach) process.stdout.write('rollback: manually requested rollback\n');
  await progress(client, cur.id, 'rollback', detach);
}
