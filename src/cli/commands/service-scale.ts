/** `shoal service scale SERVICE=REPLICAS...`: every service checked first, then each scaled and awaited in turn. */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../errors';
import type { Service } from '../../model/types';
import { clientFor } from '../context';
import { parseCount } from '../service-flags';
import { getService, progress, type Globals } from './service-shared';

/** Register `service scale`. */
export function registerServiceScale(svc: Command, globals: Globals): void {
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
        const cur = await getService(client, w.name);
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
}
