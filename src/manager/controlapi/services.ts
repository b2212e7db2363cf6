/**
 * `/v1/services`: create, list, inspect, update, rollback and remove. Each
 * write checks the spec (spec/service-spec.ts), admits it
 * (service-admission.ts: ports, networks, capacity) and commits with a
 * compare-and-swap on what it read, so a concurrent write makes it fail with
 * ConflictError instead of being lost. The orchestrators act on what is
 * written; nothing here starts or stops a task.
 *
 * Store layout: /services/<id> Service, /names/services/<name> its id (the
 * name's reservation, so create is atomic with the uniqueness check).
 */
import type { Logger } from 'pino';
import type { ServiceUpdateRequest } from '../../api/contract';
import type { Router } from '../../api/router';
import { ClusterMissingError, ConflictError, InvalidArgumentError, NameConflictError } from '../../errors';
import { newId } from '../../model/ids';
import { KEYS, type Cluster, type Service, type ServiceSpec } from '../../model/types';
import type { KeyValue, Op, Store } from '../../store/store';
import { validateServiceSpec } from '../../spec/service-spec';
import { mayNeedMoreAddresses } from '../allocator/service-networks';
import { MANUAL_ROLLBACK_MESSAGE, rollbackBlocker, rolledBack, updatingStatus } from '../orchestrator/update/update-status';
import { findNamed, listValues } from './lookup';
import type { Named } from '../../spec/object-ref';
import type { Networks } from './networks';
import { checkImmutable, type AdmissionOptions, ServiceAdmission } from './service-admission';
import { resolvePayloadRefs } from './payload-refs';

/** What the services API reads and writes. */
export interface ServicesApiDeps {
  store: Store;
  logger: Logger;
  now: () => number;
  networks: Networks;
}

/** Key that reserves a service name, so create is atomic with the uniqueness check. */
const nameKey = (name: string) => `/names/services/${name.toLowerCase()}`;

const SERVICE: Named<Service> = { what: 'service', id: (s) => s.id, name: (s) => s.spec.name };

/** The services resource of the control API. */
export class ServicesApi {
  private readonly admission: ServiceAdmission;

  constructor(
    private readonly deps: ServicesApiDeps,
    options: AdmissionOptions,
  ) {
    this.admission = new ServiceAdmission(deps, options);
  }

  routes(router: Router): void {
    router
      .on('GET', '/v1/services', () => this.list())
      .on('POST', '/v1/services', (c) => this.create((c.body as { spec?: unknown })?.spec))
      .on('GET', '/v1/services/:id', (c) => this.find(c.params.id).then((kv) => kv.value))
      .on('POST', '/v1/services/:id/update', (c) => this.update(c.params.id, c.body as ServiceUpdateRequest))
      .on('POST', '/v1/services/:id/rollback', (c) => this.rollback(c.params.id, c.body))
      .on('DELETE', '/v1/services/:id', (c) => this.remove(c.params.id));
  }

  list(): Promise<Service[]> {
    return listValues<Service>(this.deps.store, KEYS.services);
  }

  /** A service by id, name or unique id prefix. */
  find(idOrName: string): Promise<KeyValue<Service>> {
    return findNamed(this.deps.store, KEYS.services, SERVICE, idOrName);
  }

  /** Services stored before networks existed: the default network and a VIP on it. */
  async backfillNetworks(): Promise<void> {
    const { kvs } = await this.deps.store.range<Service>(KEYS.services);
    for (const kv of kvs) {
      const s = kv.value;
      if (s.spec.networks?.length && (s.spec.endpoint.mode !== 'vip' || s.endpoint.virtualIPs)) continue;
      try {
        const guard = await this.deps.networks.ipamGuard();
        const d = await this.admission.decideNetworks(s.spec, s);
        const service: Service = { ...s, spec: d.spec, endpoint: { ...s.endpoint, virtualIPs: d.virtualIPs } };
        await this.deps.store.txn({
          compare: [{ key: kv.key, modRevision: kv.modRevision }, guard.compare],
          success: [{ type: 'put', key: kv.key, value: service }, guard.bump],
        });
      } catch (err) {
        this.deps.logger.warn({ err, service: s.spec.name }, 'could not give the service its networks');
      }
    }
  }

  private async create(rawSpec: unknown): Promise<Service> {
    const { store, networks, now } = this.deps;
    const validated = await resolvePayloadRefs(store, validateServiceSpec(rawSpec));
    if (await store.get(nameKey(validated.name))) throw new NameConflictError(`service ${validated.name} already exists`);
    await this.admission.checkPorts(validated);
    const guard = await networks.ipamGuard();
    const { spec, virtualIPs } = await this.admission.decideNetworks(validated);
    await this.admission.checkCapacity({ spec }, false);
    const clusterKv = await store.get<Cluster>(KEYS.cluster);
    if (!clusterKv) throw new ClusterMissingError('cluster object missing');
    const iso = new Date(now()).toISOString();
    const service: Service = {
      id: newId(),
      version: 1,
      spec,
      endpoint: { vipIndex: spec.endpoint.mode === 'vip' ? clusterKv.value.nextVipIndex : null, virtualIPs },
      createdAt: iso,
      updatedAt: iso,
    };
    const cluster = { ...clusterKv.value, nextVipIndex: clusterKv.value.nextVipIndex + (service.endpoint.vipIndex ? 1 : 0) };
    const r = await store.txn({
      compare: [{ key: nameKey(spec.name), modRevision: 0 }, { key: KEYS.cluster, modRevision: clusterKv.modRevision }, guard.compare],
      success: [
        { type: 'put', key: nameKey(spec.name), value: service.id },
        { type: 'put', key: KEYS.service(service.id), value: service },
        { type: 'put', key: KEYS.cluster, value: cluster },
        guard.bump,
      ],
    });
    if (!r.succeeded) {
      if (await store.get(nameKey(spec.name))) throw new NameConflictError(`service ${spec.name} already exists`);
      throw new ConflictError('the cluster changed meanwhile; try again');
    }
    this.deps.logger.info({ service: spec.name, id: service.id }, 'service created');
    return service;
  }

  private async update(idOrName: string, req: ServiceUpdateRequest): Promise<Service> {
    if (!req || typeof req !== 'object') throw new InvalidArgumentError('service update body must be an object');
    const kv = await this.find(idOrName);
    const cur = kv.value;
    if (req.version !== undefined && req.version !== cur.version) {
      throw new ConflictError(`service ${cur.spec.name} was updated meanwhile (version ${cur.version}, update based on ${req.version}); try again`);
    }
    const validated = await resolvePayloadRefs(this.deps.store, validateServiceSpec(req.spec));
    checkImmutable(validated, cur);
    await this.admission.checkPorts(validated, cur);
    const vipIndex = cur.endpoint.vipIndex;
    if (validated.endpoint.mode === 'vip' && vipIndex === null) throw new InvalidArgumentError('endpoint mode cannot be changed from dnsrr to vip');
    const guard = await this.deps.networks.ipamGuard();
    const net = await this.admission.decideNetworks(validated, cur);
    const spec = net.spec;
    const service: Service = {
      ...cur,
      version: cur.version + 1,
      spec,
      previousSpec: cur.spec,
      endpoint: { vipIndex: spec.endpoint.mode === 'vip' ? vipIndex : null, virtualIPs: net.virtualIPs },
      // Tasks join their networks when they start: other networks redeploy them, as in Docker.
      forceUpdate: (cur.forceUpdate ?? 0) + (req.force || net.networksChanged ? 1 : 0),
      updatedAt: new Date(this.deps.now()).toISOString(),
    };
    // Any update that leaves tasks on an older spec starts a new walk, which also resumes a paused one (as Docker).
    const dirty = await this.admission.makesTasksDirty(service);
    if (mayNeedMoreAddresses(cur.spec, spec, net.networksChanged, dirty, spec.updateConfig?.order)) await this.admission.checkCapacity(service, dirty);
    if (dirty) service.updateStatus = updatingStatus(this.deps.now());
    const r = await this.deps.store.txn({
      compare: [{ key: kv.key, modRevision: kv.modRevision }, guard.compare],
      success: [{ type: 'put', key: kv.key, value: service }, ...(net.allocates ? [guard.bump] : [])],
    });
    if (!r.succeeded) throw new ConflictError(`service ${cur.spec.name} was updated meanwhile; try again`);
    return service;
  }

  /** `service rollback` and `service update --rollback`: the previous spec comes back, walked with the rollback config. */
  private async rollback(idOrName: string, body: unknown): Promise<Service> {
    if (body !== undefined && body !== null && typeof body !== 'object') throw new InvalidArgumentError('service rollback body must be an object');
    const version = (body as { version?: unknown } | null | undefined)?.version;
    if (version !== undefined && (typeof version !== 'number' || !Number.isInteger(version))) throw new InvalidArgumentError('version must be an integer');
    const kv = await this.find(idOrName);
    const cur = kv.value;
    if (version !== undefined && version !== cur.version) {
      throw new ConflictError(`service ${cur.spec.name} was updated meanwhile (version ${cur.version}, rollback based on ${version}); try again`);
    }
    const blocker = rollbackBlocker(cur);
    if (blocker) throw new InvalidArgumentError(blocker);
    // The previous spec may name a secret or config removed since: the rollback is refused then, naming it.
    await resolvePayloadRefs(this.deps.store, cur.previousSpec as ServiceSpec);
    await this.admission.checkPorts(cur.previousSpec as ServiceSpec, cur);
    const guard = await this.deps.networks.ipamGuard();
    const back = rolledBack(cur, this.deps.now(), MANUAL_ROLLBACK_MESSAGE);
    // The previous spec may name a network removed since: the rollback is refused then, naming it.
    const net = await this.admission.decideNetworks(back.spec, cur);
    const service: Service = {
      ...back,
      spec: net.spec,
      endpoint: { ...back.endpoint, virtualIPs: net.virtualIPs },
      ...(net.networksChanged && { forceUpdate: (back.forceUpdate ?? 0) + 1 }),
    };
    if (mayNeedMoreAddresses(cur.spec, service.spec, net.networksChanged, true, service.spec.rollbackConfig?.order)) {
      await this.admission.checkCapacity(service, true, service.spec.rollbackConfig);
    }
    const ops: Op[] = [{ type: 'put', key: kv.key, value: service }];
    if (net.allocates) ops.push(guard.bump);
    const r = await this.deps.store.txn({ compare: [{ key: kv.key, modRevision: kv.modRevision }, guard.compare], success: ops });
    if (!r.succeeded) throw new ConflictError(`service ${cur.spec.name} was updated meanwhile; try again`);
    this.deps.logger.info({ service: cur.spec.name, version: service.version }, 'service rollback requested');
    return service;
  }

  private async remove(idOrName: string): Promise<void> {
    const kv = await this.find(idOrName);
    await this.deps.store.txn({
      compare: [{ key: kv.key, modRevision: kv.modRevision }],
      success: [
        { type: 'delete', key: kv.key },
        { type: 'delete', key: nameKey(kv.value.spec.name) },
      ],
    });
    this.deps.logger.info({ service: kv.value.spec.name }, 'service removed');
  }
}
