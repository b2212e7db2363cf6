/**
 * Overlay networks as an operator names and asks for them: the one driver,
 * the `network create` request checked (name, driver, subnet, labels), and
 * which network an id, name or id prefix means.
 */
import { InvalidArgumentError, NetworkNotFoundError } from '../errors';
import type { Network } from '../model/types';
import { findByRef, type Named } from './object-ref';
import { formatSubnet, parseSubnet } from './subnet';

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
  checkNetworkDriver(o.driver);
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

/** The driver asked for (absent: the default) is the one there is; InvalidArgumentError otherwise. */
export function checkNetworkDriver(driver: unknown): typeof NETWORK_DRIVER {
  const d = driver ?? NETWORK_DRIVER;
  if (d !== NETWORK_DRIVER) throw new InvalidArgumentError(`driver "${String(d)}" is not supported: shoal networks use the overlay driver`);
  return d;
}

const NETWORK: Named<Network> = { what: 'network', id: (n) => n.id, name: (n) => n.name };

/** The network named by id, name or a unique id prefix; undefined when none. */
export function findNetwork(networks: readonly Network[], idOrName: string): Network | undefined {
  return findByRef(networks, NETWORK, idOrName);
}

/** findNetwork, or NetworkNotFoundError. */
export function requireNetwork(networks: readonly Network[], idOrName: string): Network {
  const n = findNetwork(networks, idOrName);
  if (!n) throw new NetworkNotFoundError(`network ${idOrName} not found`);
  return n;
}
