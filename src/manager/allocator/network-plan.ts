/**
 * What `network create` decides before anything is written: the request
 * checked (name, driver, subnet, labels), the subnet (given, or the next
 * free 10.0.N.0/24), the VNI (the lowest free from 4096), the VIP range and
 * an address for every node. Pure: the existing networks and nodes in, the
 * new Network out, or a typed error saying why not.
 */
import { AddressPoolExhaustedError, InvalidArgumentError, NetworkOverlapError } from '../../errors';
import type { Network, Node } from '../../model/types';
import { AddressPool } from './address-pool';
import { reconcileNodeAddresses } from './node-addresses';
import { formatSubnet, nextFreeSubnet, parseSubnet, subnetsOverlap, vipRangeOf, type Subnet } from './subnet';

/** The cluster's builtin network, created with the swarm; services that name no network join it. */
export const DEFAULT_NETWORK = { name: 'shoal', subnet: '10.0.0.0/24', vni: 4096 } as const;
/** VNIs from here up belong to shoal networks (Docker's overlay driver starts at 4096 too). */
export const FIRST_VNI = 4096;
/** The largest 24-bit VXLAN network identifier. */
export const MAX_VNI = 2 ** 24 - 1;
/** The only driver: networks span the cluster over VXLAN. */
export const NETWORK_DRIVER = 'overlay';

/** A checked `network create` request. */
export interface NetworkRequest {
  name: string;
  driver: 'overlay';
  /** Absent: the next free 10.0.N.0/24. */
  subnet?: string;
  labels: Record<string, string>;
}

/** Docker's network name rule: a letter or digit, then letters, digits, '_', '.', '-'. */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** Check a `POST /v1/networks` body; throws InvalidArgumentError naming the first bad field. */
export function validateNetworkRequest(input: unknown): NetworkRequest {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw new InvalidArgumentError('network create body must be an object');
  const o = input as Record<string, unknown>;
  if (typeof o.name !== 'string' || !o.name) throw new InvalidArgumentError('a network name is required: shoal network create [OPTIONS] NAME');
  if (!NAME_RE.test(o.name)) {
    throw new InvalidArgumentError(`invalid network name "${o.name}": use letters, digits, '_', '.' and '-', at most 63, starting with a letter or digit`);
  }
  const driver = o.driver ?? NETWORK_DRIVER;
  if (driver !== NETWORK_DRIVER) throw new InvalidArgumentError(`driver "${String(driver)}" is not supported: shoal networks use the overlay driver`);
  let subnet: string | undefined;
  if (o.subnet !== undefined && o.subnet !== null && o.subnet !== '') {
    if (typeof o.subnet !== 'string') throw new InvalidArgumentError('subnet must be a string such as 10.0.1.0/24');
    subnet = formatSubnet(parseSubnet(o.subnet));
  }
  const labels: Record<string, string> = {};
  if (o.labels !== undefined && o.labels !== null) {
    if (typeof o.labels !== 'object' || Array.isArray(o.labels)) throw new InvalidArgumentError('labels must be an object of strings');
    for (const [k, v] of Object.entries(o.labels as Record<string, unknown>)) {
      if (!k) throw new InvalidArgumentError('label name must not be empty');
      if (typeof v !== 'string') throw new InvalidArgumentError(`label ${k}: value must be a string`);
      labels[k] = v;
    }
  }
  return { name: o.name, driver: NETWORK_DRIVER, ...(subnet !== undefined && { subnet }), labels };
}

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
