/** `shoal service create [OPTIONS] -- COMMAND [ARG...]`: print the new id, then wait for the tasks to converge. */
import type { Command } from 'commander';
import type { Service } from '../../model/types';
import { clientFor } from '../context';
import { collect, specFromCreateFlags, type CreateFlags } from '../service-flags';
import { addSpecFlags, progress, type Globals } from './service-shared';
import { applyPayloadCreateFlags, type PayloadCreateFlags } from '../payload-flags';

/** Register `service create`. */
export function registerServiceCreate(svc: Command, globals: Globals): void {
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
      .option('--secret <secret>', 'Give tasks a secret: NAME or source=,target=,uid=,gid=,mode= (repeatable)', collect, [])
      .option('--config <config>', 'Give tasks a config: NAME or source=,target=/path,uid=,gid=,mode= (repeatable)', collect, [])
      .option('-q, --quiet', 'Print only the service id')
      .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
      .argument('[command...]', 'command and arguments of each task'),
  ).action(async (command: string[], flags: CreateFlags & PayloadCreateFlags & { detach?: boolean; quiet?: boolean }) => {
    const spec = specFromCreateFlags(flags, command);
    applyPayloadCreateFlags(spec, flags);
    const client = clientFor(globals());
    const s = await client.call<Service>('POST', '/v1/services', { spec });
    process.stdout.write(`${s.id}\n`);
    await progress(client, s.id, 'create', flags.detach || flags.quiet);
  });
}
