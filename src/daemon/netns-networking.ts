import { writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ClusterView } from '../agent/cluster-view';
import { NetworkAgent } from '../agent/network/network-agent';
import { InvalidArgumentError } from '../errors';
import type { DnsServer } from '../mesh/dns/server';
import { hasNetAdmin } from '../net/capabilities';
import { Overlay } from '../net/overlay';
import { DEFAULT_TASK_NETNS_PREFIX, DEFAULT_VXLAN_PORT } from '../net/overlay-plan';

/** Port of the DNS servers on overlay addresses: a task's resolv.conf cannot name another. */
const OVERLAY_DNS_PORT = 53;

/** Netns mode needs CAP_NET_ADMIN and packet forwarding between the overlay and the node. */
export async function prepareNetnsHost(): Promise<void> {
  if (!hasNetAdmin()) throw new InvalidArgumentError('--network-mode netns needs CAP_NET_ADMIN (run as root), or use --network-mode loopback');
  await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n');
  // The node forwards balanced traffic back out of the bridge it came in on;
  // ICMP redirects would teach clients to bypass it.
  for (const conf of ['all', 'default']) await writeFile(`/proc/sys/net/ipv4/conf/${conf}/send_redirects`, '0\n');
}

/** What a member node's netns networking needs. */
export interface NetnsNetworkingDeps {
  view: ClusterView;
  logger: Logger;
  /** This node's id, once registered. */
  nodeId(): string | undefined;
  /** A DNS server on `address:port` answering from the node's mesh. */
  dnsServer(address: string, port: number): DnsServer;
}

/** Settings of a node's netns networking (daemon flags). */
export interface NetnsNetworkingOptions {
  /** The node's address: the VXLAN underlay, and where its main DNS server listens. */
  address: string;
  /** Port of the node's main DNS server; on 53 it already serves the node's own address. */
  dnsPort: number;
  vxlanPort?: number;
  netnsPrefix?: string;
}

/**
 * A member node's networking in netns mode: the network agent (overlay
 * devices, task namespaces; the executor's sandbox) and one DNS server on
 * each of the node's overlay addresses.
 */
export class NetnsNetworking {
  /** Builds each task's namespace: the executor's TaskSandbox. */
  readonly network: NetworkAgent;
  /** DNS servers on this node's overlay addresses, by address. */
  private readonly overlayDns = new Map<string, DnsServer>();
  private readonly logger: Logger;

  constructor(
    private readonly deps: NetnsNetworkingDeps,
    private readonly options: NetnsNetworkingOptions,
  ) {
    this.logger = deps.logger;
    const overlay = new Overlay(
      { logger: deps.logger.child({ component: 'overlay' }) },
      { underlayAddress: options.address, vxlanPort: options.vxlanPort ?? DEFAULT_VXLAN_PORT },
    );
    this.network = new NetworkAgent(
      {
        view: deps.view,
        overlay,
        logger: deps.logger,
        nodeId: deps.nodeId,
        onNodeAddresses: (addresses) => void this.syncOverlayDns(addresses),
      },
      { netnsPrefix: options.netnsPrefix ?? DEFAULT_TASK_NETNS_PREFIX },
    );
  }

  /** Removes what a previous run left (task namespaces). */
  start(): Promise<void> {
    return this.network.start();
  }

  /** Removes the overlay devices and closes the overlay DNS servers. */
  async stop(): Promise<void> {
    await this.network.stop();
    for (const server of this.overlayDns.values()) await server.close();
    this.overlayDns.clear();
  }

  /** Keeps one DNS server on each of this node's overlay addresses, port 53 (resolv.conf has no port). */
  private async syncOverlayDns(addresses: string[]): Promise<void> {
    for (const [addr, server] of this.overlayDns) {
      if (!addresses.includes(addr)) {
        this.overlayDns.delete(addr);
        await server.close();
      }
    }
    for (const addr of addresses) {
      if (this.overlayDns.has(addr) || (addr === this.options.address && this.options.dnsPort === OVERLAY_DNS_PORT)) continue;
      const server = this.deps.dnsServer(addr, OVERLAY_DNS_PORT);
      this.overlayDns.set(addr, server);
      await server.listen().catch((err: Error) => {
        this.overlayDns.delete(addr);
        this.logger.error({ address: addr, err: err.message }, 'DNS cannot listen on the overlay address');
      });
    }
  }
}
