import type { ApplyResult, Dataplane, Frontend, LbTable } from '../table/table';

/**
 * A kernel dataplane with the userspace one beside it: frontends the kernel
 * path can serve go to it, the rest (PROXY protocol, per-connection retry,
 * limits) to userspace, so asking for those features never loses them.
 */
export class SplitDataplane implements Dataplane {
  readonly name: Dataplane['name'];

  constructor(
    private readonly kernel: Dataplane,
    private readonly userspace: Dataplane,
    private readonly kernelCapable: (f: Frontend) => boolean,
  ) {
    this.name = kernel.name;
  }

  /** Applies each part of the table to its dataplane; failures of both are reported. */
  async apply(table: LbTable): Promise<ApplyResult> {
    const kernel: Frontend[] = [];
    const user: Frontend[] = [];
    for (const f of table.frontends) (this.kernelCapable(f) ? kernel : user).push(f);
    const [a, b] = await Promise.all([this.kernel.apply({ frontends: kernel }), this.userspace.apply({ frontends: user })]);
    return { failed: [...a.failed, ...b.failed] };
  }

  /** Closes both. */
  async close(): Promise<void> {
    await Promise.all([this.kernel.close(), this.userspace.close()]);
  }
}
