import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram } from '../../../metrics/registry';
import type { ApplyResult, Dataplane, LbTable } from '../../table/table';
import { expectedView, parseListing, viewDrift, type KernelView } from './nft-listing';
import { systemNft, type NftRunner } from './nft-runner';
import { NFT_FAMILY, NFT_TABLE, renderRuleset, renderTeardown, type NftRenderOptions, type NftState } from './nft-ruleset';

/** Side effects the nftables dataplane needs. */
export interface NftablesDataplaneDeps {
  logger: Logger;
  registry: Registry;
  /** Runs nft; defaults to the system binary, inside `options.netns` when set. */
  nft?: NftRunner;
  /** Monotonic clock in milliseconds, for the apply duration metric; defaults to performance.now. */
  now?: () => number;
}

/** Tuning of the nftables dataplane. */
export interface NftablesDataplaneOptions extends NftRenderOptions {
  /** Network namespace whose nftables to program (`ip netns exec`); the process's own when absent. */
  netns?: string;
  /**
   * How often the kernel's copy of the table is read back and rebuilt if it
   * drifted (a firewall reload flushing the ruleset); 0 turns it off.
   */
  resyncIntervalMs?: number;
}

/** Default period of the drift check: a flushed ruleset is noticed within this long. */
export const DEFAULT_RESYNC_INTERVAL_MS = 30_000;

interface NftMetrics {
  applies: Counter<'result' | 'kind'>;
  duration: Histogram;
  frontends: Gauge<'state'>;
  resyncs: Counter;
}

function nftMetrics(registry: Registry): NftMetrics {
  return {
    applies: counter(registry, {
      name: 'shoal_nftables_applies_total',
      help: 'nft transactions run by the nftables dataplane, by kind (full, delta, teardown) and result (ok, error)',
      labelNames: ['result', 'kind'],
    }),
    duration: histogram(registry, {
      name: 'shoal_nftables_apply_duration_seconds',
      help: 'Time one nft transaction took, from spawn to exit',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    frontends: gauge(registry, {
      name: 'shoal_nftables_frontends',
      help: 'Frontends in the kernel table: open (some backend serves) or closed (turned away)',
      labelNames: ['state'],
    }),
    resyncs: counter(registry, {
      name: 'shoal_nftables_resyncs_total',
      help: 'Times the kernel table had drifted from what shoal applied and was rebuilt',
    }),
  };
}

/**
 * The nftables dataplane: keeps `table ip shoal` (and nothing else) in the
 * kernel equal to the LB table, one atomic `nft -f -` transaction per
 * change (see nft-ruleset.ts for the rules and why). Frontends it cannot
 * serve (kernel-capable.ts) are reported failed, so the mesh gives them to
 * the userspace dataplane. close() deletes the table.
 */
export class NftablesDataplane implements Dataplane {
  readonly name = 'nftables' as const;
  private readonly log: Logger;
  private readonly nft: NftRunner;
  private readonly now: () => number;
  private readonly metrics: NftMetrics;
  private readonly renderOptions: NftRenderOptions;
  /** What the kernel holds, as far as we know; undefined forces a full rebuild. */
  private state: NftState | undefined;
  /** The last table applied, so a resync can rebuild it. */
  private lastTable: LbTable = { frontends: [] };
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Tail of the apply/resync/close chain: each call starts once the previous one settled. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(deps: NftablesDataplaneDeps, options: NftablesDataplaneOptions = {}) {
    this.log = deps.logger.child({ dataplane: 'nftables', ...(options.netns ? { netns: options.netns } : {}) });
    this.nft = deps.nft ?? systemNft(options.netns);
    this.now = deps.now ?? (() => performance.now());
    this.metrics = nftMetrics(deps.registry);
    this.renderOptions = { sourceHashBuckets: options.sourceHashBuckets, maxWeightSlots: options.maxWeightSlots };
    const every = options.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS;
    if (every > 0) {
      this.resyncTimer = setInterval(() => {
        this.resync().catch((err: unknown) => this.log.warn({ err }, 'nftables resync failed'));
      }, every);
      this.resyncTimer.unref();
    }
  }

  apply(table: LbTable): Promise<ApplyResult> {
    return this.serialize(() => this.reconcile(table));
  }

  /**
   * Read the table back from the kernel and rebuild it if it is not what was
   * applied; resolves whether a rebuild was needed. Runs on a timer, and may
   * be called by hand.
   */
  resync(): Promise<boolean> {
    return this.serialize(async () => {
      if (this.closed || !this.state) return false;
      const drift = viewDrift(expectedView(this.state), await this.readKernel());
      if (drift.length === 0) return false;
      this.log.warn({ drift: drift.slice(0, 10) }, 'nftables table drifted; rebuilding');
      this.metrics.resyncs.inc();
      this.state = undefined;
      await this.reconcile(this.lastTable);
      return true;
    });
  }

  /** shoal's table as the kernel has it now (empty view when there is no table). */
  kernelView(): Promise<KernelView> {
    return this.readKernel();
  }

  close(): Promise<void> {
    return this.serialize(async () => {
      if (this.closed) return;
      this.closed = true;
      clearInterval(this.resyncTimer);
      await this.transaction('teardown', renderTeardown());
      this.state = undefined;
      this.metrics.frontends.reset();
      this.log.info('nftables table removed');
    });
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reconcile(table: LbTable): Promise<ApplyResult> {
    if (this.closed) {
      return { failed: table.frontends.map((f) => ({ frontendId: f.id, error: 'dataplane is closed' })) };
    }
    this.lastTable = table;
    let render = renderRuleset(table.frontends, this.state, this.renderOptions);
    for (const f of render.failed) this.log.info({ frontend: f.frontendId, reason: f.error }, 'frontend left to another dataplane');
    if (render.script === '') return { failed: render.failed };
    try {
      await this.transaction(render.full ? 'full' : 'delta', render.script);
    } catch (err) {
      if (render.full) return this.unapplied(table, render.failed, err);
      // The kernel is not what we thought (someone changed the table): rebuild it whole.
      this.log.warn({ err }, 'nftables delta failed; rebuilding the table');
      render = renderRuleset(table.frontends, undefined, this.renderOptions);
      try {
        await this.transaction('full', render.script);
      } catch (err2) {
        return this.unapplied(table, render.failed, err2);
      }
    }
    this.state = render.state;
    const open = [...render.state.frontends.values()].filter((f) => f.rule !== undefined).length;
    this.metrics.frontends.set({ state: 'open' }, open);
    this.metrics.frontends.set({ state: 'closed' }, render.state.frontends.size - open);
    return { failed: render.failed };
  }

  /** A transaction failed: nft applies all or nothing, so nothing of it is in; the next apply rebuilds. */
  private unapplied(table: LbTable, failed: ApplyResult['failed'], err: unknown): ApplyResult {
    this.state = undefined;
    const error = `nft refused the table: ${err instanceof Error ? err.message : String(err)}`;
    this.log.error({ err }, 'nftables apply failed');
    const already = new Set(failed.map((f) => f.frontendId));
    return { failed: [...failed, ...table.frontends.filter((f) => !already.has(f.id)).map((f) => ({ frontendId: f.id, error }))] };
  }

  private async transaction(kind: 'full' | 'delta' | 'teardown', script: string): Promise<void> {
    const started = this.now();
    try {
      await this.nft.run(['-f', '-'], script);
      this.metrics.applies.inc({ kind, result: 'ok' });
      this.log.debug({ kind, lines: script.split('\n').length - 1 }, 'nftables transaction applied');
    } catch (err) {
      this.metrics.applies.inc({ kind, result: 'error' });
      throw err;
    } finally {
      this.metrics.duration.observe((this.now() - started) / 1000);
    }
  }

  private async readKernel(): Promise<KernelView> {
    // List every table, then ours only if it exists: a missing table is a state, not an error.
    const tables = await this.nft.run(['list', 'tables']);
    const ours = tables.split('\n').some((l) => l.trim() === `table ${NFT_FAMILY} ${NFT_TABLE}`);
    if (!ours) return parseListing('{"nftables": []}');
    return parseListing(await this.nft.run(['-j', 'list', 'table', NFT_FAMILY, NFT_TABLE]));
  }
}
