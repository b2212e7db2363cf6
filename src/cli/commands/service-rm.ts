/** `shoal service rm SERVICE...`: every name resolved first, so a typo in the last removes nothing. */
import type { Command } from 'commander';
import type { Service } from '../../model/types';
import { clientFor } from '../context';
import { getService, type Globals } from './service-shared';

/** Register `service rm` (alias `remove`). */
export function registerServiceRm(svc: Command, globals: Globals): void {
  svc
    .command('rm')
    .alias('remove')
    .description('Remove one or more services')
    .argument('<service...>')
    .action(async (names: string[]) => {
      const client = clientFor(globals());
      // Resolve all first, so a typo in the last name removes nothing.
      const found: Service[] = [];
      for (const n of names) found.push(await getService(client, n));
      for (const s of found) {
        await client.call('DELETE', `/v1/services/${s.id}`);
        process.stdout.write(`${s.spec.name}\n`);
      }
    });
}
