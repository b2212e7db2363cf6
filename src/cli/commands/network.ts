import type { Command } from 'commander';
import type { NetworkCreateRequest } from '../../api/contract';
import { InvalidArgumentError, NetworkInUseError } from '../../errors';
import { checkNetworkDriver, NETWORK_DRIVER } from '../../spec/network';
import { formatSubnet, parseSubnet } from '../../spec/subnet';
import type { Network, Service } from '../../model/types';
import { clientFor, outputFormat, printJson, type GlobalFlags } from '../context';
import { collect, parseKeyValues } from '../service-flags';
import { renderTable } from '../table';

type Globals = () => GlobalFlags;

/** Networks span the cluster, as Docker's swarm-scoped overlays. */
const SCOPE = 'swarm';
const short = (id: string) => id.slice(0, 12);

/** Flags of `network create`, as commander hands them over. */
export interface NetworkCreateFlags {
  driver?: string;
  subnet?: string;
  label: string[];
}

/** Build the `POST /v1/networks` body, checking what can be checked here; the manager checks again. */
export function networkRequestFromFlags(name: string, flags: NetworkCreateFlags): NetworkCreateRequest {
  const driver = checkNetworkDriver(flags.driver);
  const req: NetworkCreateRequest = { name, driver, labels: parseKeyValues(flags.label, 'label') };
  if (flags.subnet !== undefined) req.subnet = formatSubnet(parseSubnet(flags.subnet));
  return req;
}

/** Rows of `network ls`: Docker's columns plus the subnet, sorted by name. */
export function networkRows(networks: readonly Network[], trunc = true): string[][] {
  return [...networks]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n) => [trunc ? short(n.id) : n.id, n.name, n.driver, SCOPE, n.subnet]);
}

/** Services that name a network, by name: `network rm` checks them all before removing any. */
export function servicesUsing(network: Network, services: readonly Service[]): string[] {
  return services
    .filter((s) => s.spec.networks?.includes(network.id))
    .map((s) => s.spec.name)
    .sort();
}

/** Register `shoal network ...`. */
export function registerNetwork(program: Command, globals: Globals): void {
  const net = program.command('network').description('Manage overlay networks');

  net
    .command('create')
    .description('Create an overlay network: shoal network create [OPTIONS] NAME')
    .option('-d, --driver <driver>', 'Driver to manage the network (only "overlay")', NETWORK_DRIVER)
    .option('--subnet <cidr>', 'IPv4 subnet, /16 to /29 (default: the next free 10.0.N.0/24)')
    .option('--label <KEY=VALUE>', 'Network label', collect, [])
    .argument('<name>')
    .action(async (name: string, flags: NetworkCreateFlags) => {
      const req = networkRequestFromFlags(name, flags);
      const n = await clientFor(globals()).call<Network>('POST', '/v1/networks', req);
      process.stdout.write(`${n.id}\n`);
    });

  net
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('--format <format>', 'table or json')
    .option('-q, --quiet', 'Only display network IDs')
    .option('--no-trunc', 'Do not truncate the output')
    .action(async (flags: { format?: string; quiet?: boolean; trunc: boolean }) => {
      const format = outputFormat(flags.format);
      const networks = await clientFor(globals()).call<Network[]>('GET', '/v1/networks');
      networks.sort((a, b) => a.name.localeCompare(b.name));
      if (format === 'json') {
        return printJson(
          networks.map((n) => ({
            ID: n.id,
            Name: n.name,
            Driver: n.driver,
            Scope: SCOPE,
            Subnet: n.subnet,
            VIPRange: n.vipRange,
            VNI: n.vni,
            Labels: n.labels,
            Builtin: n.builtin,
            CreatedAt: n.createdAt,
          })),
        );
      }
      if (flags.quiet) return void process.stdout.write(networks.map((n) => (flags.trunc ? short(n.id) : n.id) + '\n').join(''));
      process.stdout.write(renderTable(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET'], networkRows(networks, flags.trunc)));
    });

  net
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<network...>')
    .action(async (ids: string[]) => {
      const client = clientFor(globals());
      const out: Network[] = [];
      for (const id of ids) out.push(await client.call<Network>('GET', `/v1/networks/${encodeURIComponent(id)}`));
      printJson(out);
    });

  net
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<network...>')
    .action(async (ids: string[]) => {
      const client = clientFor(globals());
      // Resolve and check every name first, so a typo or a busy network in the list removes nothing.
      const found: { given: string; network: Network }[] = [];
      for (const id of ids) found.push({ given: id, network: await client.call<Network>('GET', `/v1/networks/${encodeURIComponent(id)}`) });
      const services = await client.call<Service[]>('GET', '/v1/services');
      for (const { network } of found) {
        if (network.builtin) throw new InvalidArgumentError(`network ${network.name} is the cluster's default network and cannot be removed`);
        const users = servicesUsing(network, services);
        if (users.length > 0) throw new NetworkInUseError(`network ${network.name} is in use by service${users.length === 1 ? '' : 's'} ${users.join(', ')}`);
      }
      for (const { given, network } of found) {
        await client.call('DELETE', `/v1/networks/${network.id}`);
        process.stdout.write(`${given}\n`);
      }
    });
}
