/**
 * What `network create` decides before anything is written (the request is
 * checked by spec/network.ts): the subnet (given, or the next
 * free 10.0.N.0/24), the VNI (the lowest free from 4096), the VIP range and
 * an address for every node. Pure: the existing networks and nodes in, the
 * new Network out, or a typed error saying why not.
 */
import { AddressPoolExhaustedError, InvalidArgumentError, NetworkOverlapError } from '../../errors';
import type { Network, Node } from '../../model/types';
import { AddressPool } from './address-pool';
import { reconcileNodeAddresses } from './node-addresses';
import { NETWORK_DRIVER, type NetworkRequest } from '../../spec/network';
import { formatSubnet, parseSubnet, subnetsOverlap, type Subnet } from '../../spec/subnet';
import { nextFreeSubnet, vipRangeOf } from './subnet-layout';

/** The cluster's builtin network, created with the swarm; services that name no network join it. */
export const DEFAULT_NETWORK = { name: 'shoal', subnet: '10.0.0.0/24', vni: 4096 } as const;
/** VNIs from here up belong to shoal networks (Docker's overlay driver starts at 4096 too). */
export const FIRST_VNI = 4096;
/** The largest 24-bit VXLAN network identifier. */
export const MAX_VNI = 2 ** 24 - 1;


/** The lowest VNI from FIRST_VNI that no network has. */
export function nextFreeVni(networks: readonly Pick<Network, 'vni'>[]): number | undefined {
  const used = new Set(networks.map((n) => n.vni));
  for (let v = FIRST_VNI; v <= MAX_VNI; v++) if (!used.has(v)) return v;
  return undefined;
}

/** Subnets of the existing networks; a damaged one is skipped rather than block every create. */
function parsedSubnets(networks: readonly Network[]): { network: Network; subnet: Subnet }[] {
  const out: { network: Network; subnet: Subnet }[] = [];
  for (const network of networks) {
    try {
      out.push({ network, subnet: parseSubnet(network.subnet) });
    } catch {
      continue;
    }
  }
  return out;
}

/** What else a new network needs: its id, when, whether it is the builtin one. */
export interface NetworkIdentity {
  id: string;
  now: number;
  builtin?: boolean;
  /** Forces a VNI (the builtin network's 4096). */
  vni?: number;
}

/**
 * The network `req` asks for among `existing`, with an address for every
 * node. Throws NetworkOverlapError naming both networks when the subnet
 * overlaps, AddressPoolExhaustedError when no default subnet or VNI is left.
 * Name uniqueness is the caller's (it is checked atomically with the write).
 */
export function planNetwork(req: NetworkRequest, existing: readonly Network[], nodes: readonly Pick<Node, 'id' | 'index'>[], who: NetworkIdentity): Network {
  const taken = parsedSubnets(existing);
  let subnet: Subnet;
  if (req.subnet !== undefined) {
    subnet = parseSubnet(req.subnet);
    const clash = taken.find((t) => subnetsOverlap(t.subnet, subnet));
    if (clash) {
      throw new NetworkOverlapError(
        `subnet ${formatSubnet(subnet)} of network ${req.name} overlaps subnet ${formatSubnet(clash.subnet)} of network ${clash.network.name}`,
      );
    }
  } else {
    const free = nextFreeSubnet(taken.map((t) => t.subnet));
    if (!free) throw new AddressPoolExhaustedError(`no free 10.0.N.0/24 subnet is left for network ${req.name}; give one with --subnet`);
    subnet = free;
  }
  const vni = who.vni ?? nextFreeVni(existing);
  if (vni === undefined) throw new AddressPoolExhaustedError(`no free VXLAN network identifier is left for network ${req.name}`);
  const iso = new Date(who.now).toISOString();
  const network: Network = {
    id: who.id,
    name: req.name,
    driver: NETWORK_DRIVER,
    subnet: formatSubnet(subnet),
    vipRange: formatSubnet(vipRangeOf(subnet)),
    vni,
    nodeAddresses: {},
    labels: { ...req.labels },
    builtin: !!who.builtin,
    createdAt: iso,
    updatedAt: iso,
  };
  return reconcileNodeAddresses(network, nodes, new AddressPool(network)).network ?? network;
}
