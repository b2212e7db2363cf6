/** veth pairs that join a namespace to a bridge. */
import type { IpRunner } from './ip-command';

/** Where each end of a veth pair goes. */
export interface VethSpec {
  /** Namespace where the pair is created and `name` stays. */
  netns: string;
  name: string;
  /** Namespace the peer is moved into at creation, and its name there. */
  peerNetns: string;
  peerName: string;
}

/**
 * Creates a veth pair with each end already in its namespace, so no end ever
 * shows up in the root namespace, even for a moment.
 */
export async function addVeth(ip: IpRunner, spec: VethSpec): Promise<void> {
  await ip.run(['-n', spec.netns, 'link', 'add', spec.name, 'type', 'veth', 'peer', 'name', spec.peerName, 'netns', spec.peerNetns]);
}

/** Gives an interface an address (`a.b.c.d/len`) and brings it up. */
export async function addressAndUp(ip: IpRunner, netns: string, ifname: string, cidr: string): Promise<void> {
  await ip.run(['-n', netns, 'addr', 'add', cidr, 'dev', ifname]);
  await ip.run(['-n', netns, 'link', 'set', ifname, 'up']);
}
