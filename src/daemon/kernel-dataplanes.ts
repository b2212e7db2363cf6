/**
 * The kernel dataplanes a daemon may run in netns mode, behind one seam so
 * the daemon only knows their names: probe (can it run here, and why not)
 * and create (the kernel path, with userspace beside it for the frontends
 * it cannot serve: PROXY protocol, limits, idle timeouts).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createIpvsDataplane } from '../mesh/dataplane/ipvs/ipvs-dataplane';
import { probeIpvs } from '../mesh/dataplane/ipvs/ipvs-probe';
import { kernelCapable } from '../mesh/dataplane/nftables/kernel-capable';
import { NftablesDataplane } from '../mesh/dataplane/nftables/nft-dataplane';
import { probeNftables } from '../mesh/dataplane/nftables/nft-probe';
import type { DataplaneProbe } from '../mesh/dataplane/select';
import { SplitDataplane } from '../mesh/dataplane/split-dataplane';
import type { Dataplane } from '../mesh/table/table';

/** What a kernel dataplane needs from the daemon. */
export interface KernelDataplaneDeps {
  logger: Logger;
  registry: Registry;
  /** VIP ranges shoal allocates from (the overlay networks'), so a restarted IPVS dataplane knows its own services. */
  ownedRanges?: string[];
}

/** Probes and constructors of the kernel dataplanes. */
export const kernelDataplanes = {
  /** Whether `name` can run in this process and kernel. */
  async probe(name: 'ipvs' | 'nftables'): Promise<DataplaneProbe> {
    const r = name === 'ipvs' ? await probeIpvs() : await probeNftables();
    return r.ok ? { ok: true } : { ok: false, reason: r.reason };
  },
  /** The kernel dataplane `name`, with `userspace` serving the frontends it cannot. */
  create(name: 'ipvs' | 'nftables', userspace: Dataplane, deps: KernelDataplaneDeps): Dataplane {
    const kernel =
      name === 'ipvs'
        ? // Published ports as address services: fwmark ingress needs nftables marking, which this node may not run.
          createIpvsDataplane({ logger: deps.logger, registry: deps.registry }, { ingress: 'address', ownedRanges: deps.ownedRanges })
        : new NftablesDataplane({ logger: deps.logger, registry: deps.registry }, {});
    return new SplitDataplane(kernel, userspace, kernelCapable);
  },
};
