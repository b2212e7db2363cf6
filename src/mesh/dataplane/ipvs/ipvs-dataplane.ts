import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { InvalidArgumentError } from '../../../errors';
import { resolveFamily } from '../../../net/genl/ctrl-family';
import type { GenlRequest } from '../../../net/genl/genl-message';
import { GenlSocket } from '../../../net/genl/genl-socket';
import type { GenlTransport } from '../../../net/genl/genl-transport';
import { DumpInterruptedError, NetlinkError } from '../../../net/genl/netlink-error';
import type { ApplyResult, Dataplane, LbTable } from '../../table/table';
import { desiredServices } from './ipvs-desired';
import type { IngressMode } from './ipvs-desired';
import {
  delDestRequest,
  delServiceRequest,
  getDestsRequest,
  getServicesRequest,
  newDestRequest,
  newServiceRequest,
  parseDestMessage,
  parseServiceMessage,
  setDestRequest,
  setServiceRequest,
} from './ipvs-messages';
import { ipvsMetrics, opLabel } from './ipvs-metrics';
import type { IpvsMetrics } from './ipvs-metrics';
import { parseCidr, planIpvs } from './ipvs-plan';
import type { IpvsOp, ObservedService } from './ipvs-plan';
import type { IpvsServiceId } from './ipvs-types';
import { serviceKey } from './ipvs-types';
import { IPVS_GENL_NAME } from './ipvs-uapi';

/** Side effects of the IPVS dataplane. */
export interface IpvsDataplaneDeps {
  /** Generic netlink to the kernel (GenlSocket) or a fake (FakeIpvsKernel). The dataplane closes it on close(). */
  transport: GenlTransport;
  logger: Logger;
  registry: Registry;
  /** Monotonic clock in milliseconds, for drain deadlines; defaults to performance.now. */
  now?: () => number;
}

/** Tuning of the IPVS dataplane. */
export interface IpvsDataplaneOptions {
  /** How published ports become virtual services (see IngressMode); default `fwmark`. */
  ingress?: IngressMode;
  /** VIP ranges (IPv4 CIDRs) shoal allocates from: kernel services there are shoal's, even those left by an earlier run. */
  ownedRanges?: string[];
  /** How often the kernel is dumped and the last table applied again (draining, drift); 0 = only on apply. */
  resyncIntervalMs?: number;
  /** How long a destination no frontend wants may keep its connections before it is removed. */
  orphanDrainMs?: number;
  /** The IPVS family id when the caller has it (from probeIpvs); otherwise resolved on first use. */
  familyId?: number;
}

/** Default resync period: how soon a drained destination with no connections left goes away. */
export const DEFAULT_IPVS_RESYNC_INTERVAL_MS = 5_000;
/** Default deadline for destinations no frontend wants; the mesh's own drain grace came before. */
export const DEFAULT_ORPHAN_DRAIN_MS = 60_000;
/** A dump the kernel flags as interrupted is tried this many times in a row. */
const DUMP_ATTEMPTS = 3;

/** Errnos that mean the operation's goal already holds (deleting what is gone). */
const ALREADY_DONE: Partial<Record<IpvsOp['op'], string[]>> = {
  'del-service': ['ESRCH'],
  'del-dest': ['ENOENT'],
};

/**
 * The kernel dataplane on IPVS: one virtual service per frontend, one
 * masquerading real server per backend, programmed through generic netlink.
 * Each apply (and each periodic resync) dumps the kernel's table, plans the
 * difference (ipvs-plan.ts, which also states what shoal owns) and sends it;
 * nothing is flushed, nothing foreign is touched. close() removes the
 * services shoal owns.
 */
export class IpvsDataplane implements Dataplane {
  readonly name = 'ipvs' as const;
  private readonly transport: GenlTransport;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly metrics: IpvsMetrics;
  private readonly ingress: IngressMode;
  private readonly ownedRanges: string[];
  private readonly resyncIntervalMs: number;
  private readonly orphanDrainMs: number;
  private familyId: number | undefined;
  private owned = new Map<string, IpvsServiceId>();
  private drainingSince = new Map<string, number>();
  private lastTable: LbTable | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(deps: IpvsDataplaneDeps, options: IpvsDataplaneOptions = {}) {
    this.transport = deps.transport;
    this.log = deps.logger.child({ dataplane: 'ipvs' });
    this.now = deps.now ?? (() => performance.now());
    this.metrics = ipvsMetrics(deps.registry);
    this.ingress = options.ingress ?? 'fwmark';
    this.ownedRanges = options.ownedRanges ?? [];
    for (const r of this.ownedRanges) if (!parseCidr(r)) throw new InvalidArgumentError(`invalid IPVS owned range ${JSON.stringify(r)}`);
    this.resyncIntervalMs = options.resyncIntervalMs ?? DEFAULT_IPVS_RESYNC_INTERVAL_MS;
    this.orphanDrainMs = options.orphanDrainMs ?? DEFAULT_ORPHAN_DRAIN_MS;
    this.familyId = options.familyId;
  }

  apply(table: LbTable): Promise<ApplyResult> {
    return this.serialize(async () => {
      if (this.closed) return { failed: table.frontends.map((f) => ({ frontendId: f.id, error: 'dataplane is closed' })) };
      this.lastTable = table;
      this.startTimer();
      return this.sync(table);
    });
  }

  /** Dump the kernel and apply the last table again now, as the resync timer does. */
  resync(): Promise<ApplyResult> {
    return this.serialize(async () => (this.closed || !this.lastTable ? { failed: [] } : this.sync(this.lastTable)));
  }

  /** Keys of the kernel services shoal owns, sorted. */
  ownedServices(): string[] {
    return [...this.owned.keys()].sort();
  }

  close(): Promise<void> {
    return this.serialize(async () => {
      if (this.closed) return;
      this.closed = true;
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
      if (this.familyId !== undefined) {
        for (const [key, id] of this.owned) {
          await this.send({ op: 'del-service', service: id }, this.familyId).catch((err: unknown) =>
            this.log.warn({ service: key, err }, 'cannot remove IPVS service on close'),
          );
        }
      }
      this.owned.clear();
      this.metrics.services.set(0);
      this.transport.close();
      this.log.info('IPVS dataplane closed');
    });
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private startTimer(): void {
    if (this.timer || this.resyncIntervalMs <= 0) return;
    this.timer = setInterval(() => {
      this.resync().then(
        (r) => r.failed.length && this.log.debug({ failed: r.failed.length }, 'IPVS resync left frontends failed'),
        (err: unknown) => this.log.warn({ err }, 'IPVS resync failed'),
      );
    }, this.resyncIntervalMs);
    this.timer.unref();
  }

  private async sync(table: LbTable): Promise<ApplyResult> {
    const desired = desiredServices(table, this.ingress);
    const failed = [...desired.failed];
    const failAll = (error: string): ApplyResult => {
      this.metrics.syncs.inc({ result: 'error' });
      return { failed: [...failed, ...desired.services.map((s) => ({ frontendId: s.frontendId, error }))] };
    };

    let family: number;
    try {
      family = await this.family();
    } catch (err) {
      this.log.warn({ err }, 'IPVS family unavailable');
      return failAll(`IPVS unavailable: ${messageOf(err)}`);
    }
    let observed: ObservedService[];
    try {
      observed = await this.observe(family, new Set(desired.services.map((s) => serviceKey(s.service))));
    } catch (err) {
      this.log.warn({ err }, 'cannot read the IPVS table');
      return failAll(`cannot read the IPVS table: ${messageOf(err)}`);
    }

    const plan = planIpvs({
      desired: desired.services,
      observed,
      owned: this.owned,
      ownedRanges: this.ownedRanges,
      now: this.now(),
      drainingSince: this.drainingSince,
      orphanDrainMs: this.orphanDrainMs,
    });
    for (const key of plan.adopted) this.log.info({ service: key }, 'adopted existing IPVS service for a frontend');

    const owned = plan.owned;
    const failedFrontends = new Set<string>();
    for (const op of plan.ops) {
      const frontendId = 'frontendId' in op ? op.frontendId : undefined;
      if (frontendId && failedFrontends.has(frontendId)) continue;
      try {
        await this.send(op, family);
      } catch (err) {
        const error = messageOf(err);
        this.log.warn({ err, frontend: frontendId }, error);
        if (op.op === 'new-service') owned.delete(serviceKey(op.service));
        if (op.op === 'del-service') owned.set(serviceKey(op.service), op.service);
        if (frontendId) {
          failedFrontends.add(frontendId);
          failed.push({ frontendId, error });
        }
      }
    }
    this.owned = owned;
    this.drainingSince = plan.drainingSince;
    this.metrics.services.set(owned.size);
    this.metrics.syncs.inc({ result: failed.length > desired.failed.length ? 'error' : 'ok' });
    return { failed };
  }

  private async family(): Promise<number> {
    if (this.familyId === undefined) this.familyId = (await resolveFamily(this.transport, IPVS_GENL_NAME)).id;
    return this.familyId;
  }

  /** The kernel's services, with the destinations of those the table wants (the others are only deleted or left alone). */
  private async observe(family: number, wanted: ReadonlySet<string>): Promise<ObservedService[]> {
    const out: ObservedService[] = [];
    for (const msg of await this.dump(getServicesRequest(family), 'IPVS GET_SERVICE dump')) {
      let service;
      try {
        service = parseServiceMessage(msg);
      } catch (err) {
        // Someone else's service shoal cannot read (an unknown family, say) is not shoal's either.
        this.log.debug({ err }, 'skipped an IPVS service shoal cannot parse');
        continue;
      }
      const key = serviceKey(service);
      if (!wanted.has(key)) {
        out.push({ service, dests: null });
        continue;
      }
      const parts = await this.dump(getDestsRequest(family, service), `IPVS GET_DEST dump of ${key}`);
      out.push({ service, dests: parts.map((m) => parseDestMessage(m, service.af)) });
    }
    return out;
  }

  private async dump(req: GenlRequest, what: string) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transport.request(req, what);
      } catch (err) {
        if (!(err instanceof DumpInterruptedError) || attempt >= DUMP_ATTEMPTS) throw err;
      }
    }
  }

  private async send(op: IpvsOp, family: number): Promise<void> {
    const req = requestFor(op, family);
    try {
      await this.transport.request(req, `IPVS ${op.op} ${describeOp(op)}`);
      this.metrics.operations.inc({ op: opLabel(op.op), result: 'ok' });
      this.log.debug({ op: op.op, target: describeOp(op) }, 'IPVS operation applied');
      if (op.op === 'del-dest' && op.reason === 'drain-deadline') {
        this.log.info({ target: describeOp(op) }, 'removed IPVS destination still holding connections after the drain deadline');
      }
    } catch (err) {
      if (err instanceof NetlinkError && ALREADY_DONE[op.op]?.includes(err.errnoName)) {
        this.metrics.operations.inc({ op: opLabel(op.op), result: 'ok' });
        return;
      }
      this.metrics.operations.inc({ op: opLabel(op.op), result: 'error' });
      throw err;
    }
  }
}

/** Open a real generic netlink socket and build the IPVS dataplane on it. */
export function createIpvsDataplane(deps: Omit<IpvsDataplaneDeps, 'transport'>, options: IpvsDataplaneOptions = {}): IpvsDataplane {
  return new IpvsDataplane({ ...deps, transport: new GenlSocket() }, options);
}

/** The request that carries out one planned operation. */
export function requestFor(op: IpvsOp, family: number): GenlRequest {
  switch (op.op) {
    case 'new-service':
      return newServiceRequest(family, op.service);
    case 'set-service':
      return setServiceRequest(family, op.service);
    case 'del-service':
      return delServiceRequest(family, op.service);
    case 'new-dest':
      return newDestRequest(family, op.service, op.dest);
    case 'set-dest':
      return setDestRequest(family, op.service, op.dest);
    case 'del-dest':
      return delDestRequest(family, op.service, op.dest);
  }
}

function describeOp(op: IpvsOp): string {
  const svc = serviceKey(op.service);
  if (op.op === 'new-dest' || op.op === 'set-dest') return `${svc} -> ${op.dest.address}:${op.dest.port} weight ${op.dest.weight}`;
  if (op.op === 'del-dest') return `${svc} -> ${op.dest.address}:${op.dest.port}`;
  return svc;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
