/**
 * The kernel dataplanes a daemon may run in netns mode, behind one seam so
 * the daemon only knows their names: probe (can it run here, and why not)
 * and create (the kernel path with userspace beside it for what it lacks).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DataplaneProbe } from '../mesh/dataplane/select';
import type { Dataplane } from '../mesh/table/table';

/** What a kernel dataplane needs from the daemon. */
export interface KernelDataplaneDeps {
  logger: Logger;
  registry: Registry;
}

/** Probes and constructors of the kernel dataplanes. */
export const kernelDataplanes = {
  /** Whether `name` can run in this process and kernel. */
  async probe(name: 'ipvs' | 'nftables'): Promise<DataplaneProbe> {
    return { ok: false, reason: `${name} dataplane not available in this build` };
  },
  /** The kernel dataplane `name`, with `userspace` serving the frontends it cannot. */
  create(name: 'ipvs' | 'nftables', userspace: Dataplane, deps: KernelDataplaneDeps): Dataplane {
    void deps;
    void name;
    return userspace;
  },
};
