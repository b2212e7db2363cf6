import type { Command } from 'commander';
import type { ApiClient } from '../../api/client';
import type { Info, NodeUpdateRequest } from '../../api/contract';
import { InvalidArgumentError } from '../../errors';
import { alreadyInRole } from '../../spec/node-role';
import type { Node, NodeAvailability, NodeRole } from '../../model/types';
import { clientFor, outputFormat, printJson, type GlobalFlags } from '../context';
import { collect, parseKeyValues } from '../service-flags';
import { renderTable } from '../table';

type Globals = () => GlobalFlags;

/** `--role`: worker or manager. */
function parseRole(v: string): NodeRole {
  if (v !== 'worker' && v !== 'manager') throw new InvalidArgumentError(`invalid role "${v}": use worker or manager`);
  return v;
}

/**
 * `node promote` / `node demote`: every node is looked up first, so a typo
 * in the last name changes nothing; a node already in the role is a no-op,
 * as in Docker; the manager decides the rest (manager/node-role.ts).
 */
async function changeRole(client: ApiClient, ids: string[], role: NodeRole): Promise<void> {
  const found: [string, Node][] = [];
  for (const id of ids) found.push([id, await client.call<Node>('GET', `/v1/nodes/${encodeURIComponent(id)}`)]);
  for (const [id, n] of found) {
    if (n.role === role) {
      process.stdout.write(alreadyInRole(id, role) + '\n');
      continue;
    }
    await client.call<Node>('POST', `/v1/nodes/${encodeURIComponent(n.id)}/update`, { role } satisfies NodeUpdateRequest);
    process.stdout.write(role === 'manager' ? `Node ${id} promoted to a manager in the swarm.\n` : `Manager ${id} demoted in the swarm.\n`);
  }
}

/** `shoal node ls|inspect|update|promote|demote|rm`. */
export function registerNode(program: Command, globals: Globals): void {
  const node = program.command('node').description('Manage nodes');
  node
    .command('ls')
    .alias('list')
    .description('List nodes')
    .option('--format <format>', 'table or json')
    .option('-q, --quiet', 'Only display IDs')
    .action(async (f: { format?: string; quiet?: boolean }) => {
      const format = outputFormat(f.format);
      const client = clientFor(globals());
      const [nodes, info] = await Promise.all([client.call<Node[]>('GET', '/v1/nodes'), client.call<Info>('GET', '/v1/info')]);
      nodes.sort((a, b) => a.index - b.index);
      if (format === 'json') return printJson(nodes);
      if (f.quiet) return void process.stdout.write(nodes.map((n) => n.id + '\n').join(''));
      const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
      process.stdout.write(
        renderTable(
          ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ADDRESS'],
          nodes.map((n) => [
            n.id + (n.id === info.nodeId ? ' *' : ''),
            n.hostname,
            cap(n.status.state),
            cap(n.availability),
            managerStatusCell(n),
            n.address,
          ]),
        ),
      );
    });
  node
    .command('inspect')
    .description('Display detailed information on one or more nodes')
    .option('--pretty', 'Print the information in a human friendly format')
    .argument('<node...>')
    .action(async (ids: string[], f: { pretty?: boolean }) => {
      const client = clientFor(globals());
      const out: Node[] = [];
      for (const id of ids) out.push(await client.call<Node>('GET', `/v1/nodes/${encodeURIComponent(id)}`));
      if (!f.pretty) return printJson(out);
      for (const n of out) {
        const lines = [
          `ID:\t\t\t${n.id}`,
          `Hostname:\t\t${n.hostname}`,
          `Address:\t\t${n.address}`,
          `Status:\t\t\t${n.status.state}`,
          `Availability:\t\t${n.availability}`,
          `Role:\t\t\t${n.role}`,
          `Network mode:\t\t${n.networking?.mode ?? 'unknown'}`,
          `Dataplane:\t\t${n.networking?.dataplane ?? 'unknown'}`,
          ...(n.networking?.passedOver ?? []).map((p) => ` passed over ${p.name}:\t${p.reason}`),
        ];
        process.stdout.write(lines.join('\n') + '\n');
      }
    });
  node
    .command('update')
    .description('Update a node')
    .option('--availability <availability>', 'active, pause or drain')
    .option('--role <role>', 'worker or manager (see node promote)')
    .option('--label-add <KEY=VALUE>', 'Add or update a node label', collect, [])
    .option('--label-rm <KEY>', 'Remove a node label', collect, [])
    .argument('<node>')
    .action(async (id: string, f: { availability?: string; role?: string; labelAdd: string[]; labelRm: string[] }) => {
      if (f.availability !== undefined && !['active', 'pause', 'drain'].includes(f.availability)) {
        throw new InvalidArgumentError(`invalid availability "${f.availability}": use active, pause or drain`);
      }
      const body: NodeUpdateRequest = {
        availability: f.availability as NodeAvailability | undefined,
        role: f.role === undefined ? undefined : parseRole(f.role),
        labelAdd: parseKeyValues(f.labelAdd, 'label'),
        labelRm: f.labelRm,
      };
      await clientFor(globals()).call('POST', `/v1/nodes/${encodeURIComponent(id)}/update`, body);
      process.stdout.write(`${id}\n`);
    });
  node
    .command('promote')
    .description('Promote one or more nodes to manager in the swarm')
    .argument('<node...>')
    .action((ids: string[]) => changeRole(clientFor(globals()), ids, 'manager'));
  node
    .command('demote')
    .description('Demote one or more nodes from manager in the swarm')
    .argument('<node...>')
    .action((ids: string[]) => changeRole(clientFor(globals()), ids, 'worker'));
  node
    .command('rm')
    .alias('remove')
    .description('Remove a node that is down from the swarm')
    .option('-f, --force', 'Remove even if the node is not down')
    .argument('<node...>')
    .action(async (ids: string[], f: { force?: boolean }) => {
      const client = clientFor(globals());
      for (const id of ids) {
        await client.call('DELETE', `/v1/nodes/${encodeURIComponent(id)}${f.force ? '?force=1' : ''}`);
        process.stdout.write(`${id}\n`);
      }
    });
}

/** Docker's MANAGER STATUS cell: Leader, Reachable, Unreachable; empty for workers. */
export function managerStatusCell(n: Node): string {
  if (n.role !== 'manager') return '';
  // A manager from before leader election reports no status: it is the only one, so it leads.
  if (!n.managerStatus || n.managerStatus.leader) return 'Leader';
  return n.managerStatus.reachability === 'reachable' ? 'Reachable' : 'Unreachable';
}
