/** Linux bridges inside a namespace: the lab's underlay switch, later a host's overlay bridge. */
import type { IpRunner } from './ip-command';

/** Creates a bridge in a namespace and brings it up. */
export async function addBridge(ip: IpRunner, netns: string, name: string): Promise<void> {
  await ip.run(['-n', netns, 'link', 'add', name, 'type', 'bridge']);
  await ip.run(['-n', netns, 'link', 'set', name, 'up']);
}

/** Plugs an interface into a bridge in the same namespace and brings the port up. */
export async function enslave(ip: IpRunner, netns: string, port: string, bridge: string): Promise<void> {
  await ip.run(['-n', netns, 'link', 'set', port, 'master', bridge]);
  await ip.run(['-n', netns, 'link', 'set', port, 'up']);
}
