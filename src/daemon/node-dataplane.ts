import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { InvalidArgumentError } from '../errors';
import { UserspaceDataplane } from '../mesh/dataplane/userspace/userspace-dataplane';
import { chooseDataplane, type DataplaneChoice, type DataplaneRequest } from '../mesh/dataplane/select';
import type { NetworkMode } from '../mesh/table/service-vip';
import type { Dataplane } from '../mesh/table/table';
import { kernelDataplanes } from './kernel-dataplanes';

/** What a node runs before it has probed anything: the userspace dataplane, which always works. */
export const USERSPACE_CHOICE: DataplaneChoice = { name: 'userspace', passedOver: [] };

/**
 * Picks this node's dataplane: userspace in loopback mode (a kernel one
 * asked for there is an error), else the kernel ones probed in order.
 * Logs why better ones were passed over.
 */
export async function chooseNodeDataplane(request: DataplaneRequest, networkMode: NetworkMode, logger: Logger): Promise<DataplaneChoice> {
  if (networkMode === 'loopback') {
    if (request === 'ipvs' || request === 'nftables') throw new InvalidArgumentError(`--dataplane ${request} needs --network-mode netns`);
    return { name: 'userspace', passedOver: [{ name: 'ipvs', reason: 'loopback network mode' }, { name: 'nftables', reason: 'loopback network mode' }] };
  }
  const wanted = request === 'auto' ? (['ipvs', 'nftables'] as const) : request === 'userspace' ? [] : [request];
  const probes: Parameters<typeof chooseDataplane>[1] = {};
  for (const name of wanted) probes[name] = await kernelDataplanes.probe(name);
  const choice = chooseDataplane(request, probes);
  for (const p of choice.passedOver) logger.info({ dataplane: p.name, reason: p.reason }, `dataplane ${p.name} passed over`);
  logger.info({ dataplane: choice.name }, 'dataplane chosen');
  return choice;
}

/** What building a node's dataplane needs. */
export interface NodeDataplaneDeps {
  logger: Logger;
  registry: Registry;
  now: () => number;
}

/** The dataplane `choice` names, with the userspace one beside a kernel one for what the kernel cannot serve. */
export function createNodeDataplane(choice: DataplaneChoice, deps: NodeDataplaneDeps, options: { relayThreads?: number }): Dataplane {
  const userspace = new UserspaceDataplane(
    { logger: deps.logger.child({ component: 'dataplane' }), registry: deps.registry, now: deps.now },
    { threads: options.relayThreads },
  );
  if (choice.name === 'userspace') return userspace;
  return kernelDataplanes.create(choice.name, userspace, { logger: deps.logger.child({ component: 'dataplane' }), registry: deps.registry });
}
