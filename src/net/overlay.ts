/**
 * The kernel side of netns mode on one node: a bridge and a VXLAN device per
 * overlay network, joined to every other node by unicast head-end
 * replication (no multicast), and a namespace per task plugged into its
 * network's bridge. Runs in the daemon's own namespace (a lab host, or the
 * real host); shells out to iproute2's `ip` and `bridge`.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { CommandFailedError, NetworkSetupError } from '../errors';
import type { Network } from '../model/types';
import { systemIp, type IpRunner } from './ip-command';
import { listNetns } from './netns';
import { bridgeName, taskVethName, OVERLAY_MTU, prefixLength, VIP_LABEL, vxlanName, vxlanPeers, type TaskAttachmentPlan } from './overlay-plan';

/** Where `ip netns exec` finds per-namespace files (it bind-mounts them over /etc). */
export const NETNS_ETC_DIR = '/etc/netns';
/** How long one `bridge` call may take. */
const BRIDGE_COMMAND_TIMEOUT_MS = 10_000;
/** The all-zeros MAC: an FDB entry for it sends broadcast and unknown unicast to that peer. */
const FLOOD_MAC = '00:00:00:00:00:00';

/** Side effects of the overlay. */
export interface OverlayDeps {
  ip?: IpRunner;
  /** Runs iproute2's `bridge`; resolves stdout. */
  bridge?: (args: readonly string[]) => Promise<string>;
  logger: Logger;
  /** Root of the per-namespace files, for tests; default /etc/netns. */
  etcDir?: string;
}

/** Settings of this node's overlay. */
export interface OverlayOptions {
  /** This node's underlay address: VXLAN packets leave from it. */
  underlayAddress: string;
  vxlanPort: number;
}

/** What a network looks like on this node. */
export interface NetworkAttachment {
  network: Network;
  /** This node's address on the network, on its bridge. */
  nodeAddress: string;
  /** Underlay addresses of every node of the cluster (this one included or not). */
  nodeUnderlayAddresses: string[];
}

function runBridge(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bridge', [...args], { timeout: BRIDGE_COMMAND_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) reject(new CommandFailedError(`bridge ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

/** Parsed `ip -j -d link show` entry, the fields the overlay reads. */
interface LinkInfo {
  ifname: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; port?: number } };
}

/** The overlay of one node: reconciles bridges and VXLAN devices, attaches and detaches tasks. */
export class Overlay {
  private readonly ip: IpRunner;
  private readonly bridge: (args: readonly string[]) => Promise<string>;
  private readonly etcDir: string;
  /** VNIs whose devices this daemon made or adopted. */
  private readonly vnis = new Set<number>();

  constructor(
    private readonly deps: OverlayDeps,
    private readonly options: OverlayOptions,
  ) {
    this.ip = deps.ip ?? systemIp;
    this.bridge = deps.bridge ?? runBridge;
    this.etcDir = deps.etcDir ?? NETNS_ETC_DIR;
  }

  private async links(): Promise<Map<string, LinkInfo>> {
    const list = JSON.parse((await this.ip.run(['-j', '-d', 'link', 'show'])) || '[]') as LinkInfo[];
    return new Map(list.map((l) => [l.ifname, l]));
  }

  /** Makes the network's bridge and VXLAN device exist with the right address and peers; idempotent. */
  async ensureNetwork(a: NetworkAttachment): Promise<void> {
    const { vni } = a.network;
    const br = bridgeName(vni);
    const vx = vxlanName(vni);
    const links = await this.links();
    if (!links.has(br)) {
      await this.ip.run(['link', 'add', br, 'mtu', String(OVERLAY_MTU), 'type', 'bridge']);
    }
    await this.ip.run(['addr', 'replace', `${a.nodeAddress}/${prefixLength(a.network.subnet)}`, 'dev', br]);
    await this.ip.run(['link', 'set', br, 'up']);
    const info = links.get(vx)?.linkinfo;
    const current = info?.info_kind === 'vxlan' && info.info_data?.id === vni && info.info_data?.port === this.options.vxlanPort;
    if (links.has(vx) && !current) await this.ip.run(['link', 'del', vx]);
    if (!current) {
      try {
        await this.ip.run([
          'link', 'add', vx, 'type', 'vxlan', 'id', String(vni), 'dstport', String(this.options.vxlanPort),
          'local', this.options.underlayAddress, 'learning',
        ]);
      } catch (err) {
        throw new NetworkSetupError(`cannot create the VXLAN device for network ${a.network.name} (VNI ${vni}, UDP ${this.options.vxlanPort}): ${(err as Error).message}`);
      }
    }
    await this.ip.run(['link', 'set', vx, 'master', br]);
    try {
      await this.ip.run(['link', 'set', vx, 'up']);
    } catch (err) {
      // Bringing a VXLAN device up binds its UDP port: this is where a port
      // held by someone else shows. Leave nothing half-built behind.
      await this.ip.run(['link', 'del', vx]).catch(() => undefined);
      const msg = (err as Error).message;
      const why = /in use/i.test(msg) ? `UDP port ${this.options.vxlanPort} is already in use (choose another with --vxlan-port)` : msg;
      throw new NetworkSetupError(`cannot bring up the VXLAN device of network ${a.network.name}: ${why}`);
    }
    this.vnis.add(vni);
    await this.syncPeers(vx, vxlanPeers(this.options.underlayAddress, a.nodeUnderlayAddresses));
  }

  private async syncPeers(vx: string, peers: string[]): Promise<void> {
    const fdb = JSON.parse((await this.bridge(['-j', 'fdb', 'show', 'dev', vx])) || '[]') as { mac: string; dst?: string }[];
    const have = new Set(fdb.filter((e) => e.mac === FLOOD_MAC && e.dst).map((e) => e.dst!));
    for (const peer of peers) if (!have.has(peer)) await this.bridge(['fdb', 'append', FLOOD_MAC, 'dev', vx, 'dst', peer]);
    for (const gone of have) if (!peers.includes(gone)) await this.bridge(['fdb', 'del', FLOOD_MAC, 'dev', vx, 'dst', gone]);
  }

  /** Removes a network's devices from this node (its tasks must be gone). */
  async removeNetwork(vni: number): Promise<void> {
    await this.ip.run(['link', 'del', vxlanName(vni)]).catch(() => undefined);
    await this.ip.run(['link', 'del', bridgeName(vni)]).catch(() => undefined);
    this.vnis.delete(vni);
  }

  /** Networks this daemon has set up. */
  networks(): number[] {
    return [...this.vnis];
  }

  /** Creates a task's namespace plugged into its network; on failure removes what it made and throws. */
  async attachTask(plan: TaskAttachmentPlan): Promise<void> {
    await this.detachTask(plan.netns, plan.veth);
    try {
      await this.ip.run(['netns', 'add', plan.netns]);
      await this.ip.run(['-n', plan.netns, 'link', 'set', 'lo', 'up']);
      await this.ip.run(['link', 'add', plan.veth, 'mtu', String(OVERLAY_MTU), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(OVERLAY_MTU), 'netns', plan.netns]);
      await this.ip.run(['link', 'set', plan.veth, 'master', plan.bridge]);
      await this.ip.run(['link', 'set', plan.veth, 'up']);
      await this.ip.run(['-n', plan.netns, 'addr', 'add', plan.cidr, 'dev', 'eth0']);
      await this.ip.run(['-n', plan.netns, 'link', 'set', 'eth0', 'up']);
      // VIPs sit inside the subnet but must go through the node, where they are balanced.
      await this.ip.run(['-n', plan.netns, 'route', 'add', plan.vipRange, 'via', plan.gateway]);
      await this.ip.run(['-n', plan.netns, 'route', 'add', 'default', 'via', plan.gateway]);
      const dir = path.join(this.etcDir, plan.netns);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'resolv.conf'), plan.resolvConf);
    } catch (err) {
      await this.detachTask(plan.netns, plan.veth);
      throw new NetworkSetupError(`task network: ${(err as Error).message}`);
    }
  }

  /** Removes a task's namespace (its veth goes with it) and its files; no error when already gone. */
  async detachTask(netns: string, veth?: string): Promise<void> {
    await this.ip.run(['netns', 'del', netns]).catch(() => undefined);
    if (veth) await this.ip.run(['link', 'del', veth]).catch(() => undefined);
    await rm(path.join(this.etcDir, netns), { recursive: true, force: true });
  }

  /** Removes every task namespace whose name starts with `prefix` but is not in `keep` (leftovers of a crash). */
  async removeStaleTasks(prefix: string, keep: ReadonlySet<string> = new Set()): Promise<number> {
    let removed = 0;
    for (const ns of await listNetns(this.ip)) {
      if (ns.startsWith(prefix) && !keep.has(ns)) {
        await this.detachTask(ns, taskVethName(ns.slice(prefix.length)));
        removed++;
      }
    }
    return removed;
  }

  /**
   * Makes loopback hold exactly these VIPs (/32, labelled lo:shoal so ours
   * are told apart from anyone else's), so userspace frontends can bind them.
   */
  async syncVips(vips: readonly string[]): Promise<void> {
    const have = await this.vipAddresses();
    for (const vip of vips) if (!have.has(vip)) await this.ip.run(['addr', 'add', `${vip}/32`, 'dev', 'lo', 'label', VIP_LABEL]);
    for (const old of have) if (!vips.includes(old)) await this.ip.run(['addr', 'del', `${old}/32`, 'dev', 'lo']).catch(() => undefined);
  }

  private async vipAddresses(): Promise<Set<string>> {
    const out = JSON.parse((await this.ip.run(['-j', 'addr', 'show', 'dev', 'lo'])) || '[]') as { addr_info?: { local: string; label?: string }[] }[];
    return new Set((out[0]?.addr_info ?? []).filter((i) => i.label === VIP_LABEL).map((i) => i.local));
  }

  /** Removes every network device and VIP this daemon made. */
  async close(): Promise<void> {
    for (const vni of [...this.vnis]) await this.removeNetwork(vni);
    await this.syncVips([]).catch(() => undefined);
  }
}
