import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { findNetwork } from '../spec/network';
import { parseConstraint } from '../spec/constraint';
import type { HealthCheck, Network, PortConfig, RestartCondition, ServiceModeName, ServiceSpec, UpdateConfig } from '../model/types';
import { parseDuration } from '../spec/duration';
import { parsePublish } from '../spec/publish';
import { parseCpus, parseMemory } from '../spec/resources';

/** Flags `service create` and `service update` share (health, placement, resources, update/rollback config). */
export interface SharedSpecFlags {
  restartCondition?: string;
  restartDelay?: string;
  restartMaxAttempts?: string;
  restartWindow?: string;
  stopGracePeriod?: string;
  workdir?: string;
  healthCmd?: string;
  healthHttp?: string;
  healthTcp?: boolean;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: string;
  healthStartPeriod?: string;
  /** commander's --no-healthcheck sets healthcheck: false. */
  healthcheck?: boolean;
  replicasMaxPerNode?: string;
  reserveCpu?: string;
  reserveMemory?: string;
  limitCpu?: string;
  limitMemory?: string;
  maxConcurrent?: string;
  lbPolicy?: string;
  lbAffinityTimeout?: string;
  idleTimeout?: string;
  maxConnections?: string;
  maxConnectionsPerBackend?: string;
  updateParallelism?: string;
  updateDelay?: string;
  updateFailureAction?: string;
  updateMonitor?: string;
  updateMaxFailureRatio?: string;
  updateOrder?: string;
  rollbackParallelism?: string;
  rollbackDelay?: string;
  rollbackFailureAction?: string;
  rollbackMonitor?: string;
  rollbackMaxFailureRatio?: string;
  rollbackOrder?: string;
}

/** Flags of `service create`, as commander hands them over. */
export interface CreateFlags extends SharedSpecFlags {
  placementPref: string[];
  name?: string;
  replicas?: string;
  mode?: string;
  publish: string[];
  endpointMode?: string;
  constraint: string[];
  env: string[];
  label: string[];
  /** `--network`, repeatable: names or ids; none means the default network. */
  network?: string[];
}

/** Flags of `service update`. */
export interface UpdateFlags extends SharedSpecFlags {
  placementPrefAdd: string[];
  placementPrefRm: string[];
  rollback?: boolean;
  replicas?: string;
  publishAdd: string[];
  publishRm: string[];
  constraintAdd: string[];
  constraintRm: string[];
  envAdd: string[];
  envRm: string[];
  labelAdd: string[];
  labelRm: string[];
  force?: boolean;
  /** `--network-add` / `--network-rm`, repeatable: names or ids. */
  networkAdd?: string[];
  networkRm?: string[];
}

/** Commander collector for repeatable flags. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Parse a non-negative integer flag, with a clear error. */
export function parseCount(v: string, what: string): number {
  if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`invalid ${what} "${v}": must be a whole number`);
  const n = Number(v);
  if (n < 0) throw new InvalidArgumentError(`invalid ${what} ${n}: must not be negative`);
  return n;
}

/** `KEY=VALUE` pairs into a record; a bare KEY takes its value from this environment, as Docker does. */
export function parseKeyValues(items: string[], what: string, fromEnv = false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!key) throw new InvalidArgumentError(`invalid ${what} "${item}": expected KEY=VALUE`);
    if (eq < 0) {
      if (!fromEnv) out[key] = '';
      else if (process.env[key] !== undefined) out[key] = process.env[key]!;
      continue;
    }
    out[key] = item.slice(eq + 1);
  }
  return out;
}

function restartCondition(v: string): RestartCondition {
  if (v !== 'any' && v !== 'on-failure' && v !== 'none') throw new InvalidArgumentError(`invalid restart condition "${v}": use any, on-failure or none`);
  return v;
}

function checkConstraints(list: string[]): string[] {
  for (const c of list) parseConstraint(c);
  return list;
}

/** Build the spec `service create` sends; the manager fills defaults and validates again. */
export function specFromCreateFlags(flags: CreateFlags, command: string[]): ServiceSpec {
  if (!flags.name) throw new InvalidArgumentError('--name is required');
  if (command.length === 0) throw new InvalidArgumentError('a command to run is required: shoal service create --name NAME [OPTIONS] -- COMMAND [ARG...]');
  const mode = (flags.mode ?? 'replicated') as ServiceModeName;
  if (!['replicated', 'global', 'replicated-job', 'global-job'].includes(mode)) {
    throw new InvalidArgumentError(`invalid mode "${mode}": use replicated, global, replicated-job or global-job`);
  }
  if (mode.startsWith('global') && flags.replicas !== undefined) throw new InvalidArgumentError('--replicas can only be used with replicated modes');
  const endpointMode = flags.endpointMode ?? 'vip';
  if (endpointMode !== 'vip' && endpointMode !== 'dnsrr') throw new InvalidArgumentError(`invalid endpoint mode "${endpointMode}": use vip or dnsrr`);
  const spec: ServiceSpec = {
    name: flags.name,
    labels: parseKeyValues(flags.label, 'label'),
    mode,
    replicas: flags.replicas === undefined ? 1 : parseCount(flags.replicas, 'replica count'),
    task: {
      command,
      env: parseKeyValues(flags.env, 'environment variable', true),
      // Resolved here: the daemon runs tasks on this machine but from its own directory.
      workdir: flags.workdir === undefined ? undefined : path.resolve(flags.workdir),
      restartPolicy: {
        condition: restartCondition(flags.restartCondition ?? (mode.endsWith('-job') ? 'on-failure' : 'any')),
        delayMs: flags.restartDelay === undefined ? 5_000 : parseDuration(flags.restartDelay, 'restart delay'),
        maxAttempts: flags.restartMaxAttempts === undefined ? 0 : parseCount(flags.restartMaxAttempts, 'restart max attempts'),
        windowMs: flags.restartWindow === undefined ? 0 : parseDuration(flags.restartWindow, 'restart window'),
      },
      placement: { constraints: checkConstraints(flags.constraint) },
      stopGracePeriodMs: flags.stopGracePeriod === undefined ? 10_000 : parseDuration(flags.stopGracePeriod, 'stop grace period'),
    },
    endpoint: { mode: endpointMode, ports: flags.publish.map(parsePublish) },
  };
  const prefs = flags.placementPref.map(parsePlacementPref);
  if (prefs.length > 0) spec.task.placement.preferences = prefs;
  if (flags.network && flags.network.length > 0) {
    for (const n of flags.network) if (!n.trim()) throw new InvalidArgumentError('--network needs a network name or id');
    spec.networks = [...flags.network];
  }
  applySharedFlags(spec, flags);
  return spec;
}

/**
 * `--network-rm` then `--network-add` on the networks a service is on (ids
 * as stored; none means the default network). `networks` is the cluster's
 * list, to match names; a name not in it is passed on for the manager to
 * refuse.
 */
export function applyNetworkFlags(current: readonly string[] | undefined, rm: readonly string[], add: readonly string[], networks: readonly Network[]): string[] {
  let list = [...(current ?? [])];
  if (list.length === 0) {
    const d = networks.find((n) => n.builtin);
    if (d) list = [d.id];
  }
  for (const x of rm) {
    const id = findNetwork(networks, x)?.id ?? x;
    if (!list.includes(id)) throw new InvalidArgumentError(`network ${x} is not attached to this service`);
    list = list.filter((i) => i !== id);
  }
  for (const x of add) {
    if (!x.trim()) throw new InvalidArgumentError('--network-add needs a network name or id');
    const found = findNetwork(networks, x);
    if (found && list.includes(found.id)) throw new InvalidArgumentError(`service is already attached to network ${found.name}`);
    list.push(found?.id ?? x);
  }
  if (list.length === 0) throw new InvalidArgumentError('a service must stay attached to at least one network');
  return list;
}

/** `spread=node.labels.zone` into a preference. */
export function parsePlacementPref(v: string): { spread: string } {
  const m = /^spread=(node\.labels\.[^\s=]+)$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`invalid placement preference "${v}": use spread=node.labels.<label>`);
  return { spread: m[1] };
}

function parseRatio(v: string, what: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`invalid ${what} "${v}": must be a number from 0 to 1`);
  return n;
}

function applyUpdateConfig(cur: UpdateConfig | undefined, f: { parallelism?: string; delay?: string; failureAction?: string; monitor?: string; maxFailureRatio?: string; order?: string }, what: 'update' | 'rollback'): UpdateConfig | undefined {
  if (Object.values(f).every((x) => x === undefined)) return cur;
  const c: UpdateConfig = { ...(cur ?? { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stop-first' }) };
  if (f.parallelism !== undefined) c.parallelism = parseCount(f.parallelism, `${what} parallelism`);
  if (f.delay !== undefined) c.delayMs = parseDuration(f.delay, `${what} delay`);
  if (f.monitor !== undefined) c.monitorMs = parseDuration(f.monitor, `${what} monitor`);
  if (f.maxFailureRatio !== undefined) c.maxFailureRatio = parseRatio(f.maxFailureRatio, `${what} max failure ratio`);
  if (f.failureAction !== undefined) {
    const ok = what === 'update' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue'];
    if (!ok.includes(f.failureAction)) throw new InvalidArgumentError(`invalid ${what} failure action "${f.failureAction}": use ${ok.join(', ')}`);
    c.failureAction = f.failureAction as UpdateConfig['failureAction'];
  }
  if (f.order !== undefined) {
    if (f.order !== 'stop-first' && f.order !== 'start-first') throw new InvalidArgumentError(`invalid ${what} order "${f.order}": use stop-first or start-first`);
    c.order = f.order;
  }
  return c;
}

/** Apply the flags create and update share to a spec in place. */
export function applySharedFlags(spec: ServiceSpec, f: SharedSpecFlags): void {
  // Health check: a kind flag sets a new check; the others tune it.
  const kinds = [f.healthCmd !== undefined, f.healthHttp !== undefined, !!f.healthTcp].filter(Boolean).length;
  if (kinds > 1) throw new InvalidArgumentError('use only one of --health-cmd, --health-http, --health-tcp');
  const tuning = [f.healthInterval, f.healthTimeout, f.healthRetries, f.healthStartPeriod].some((x) => x !== undefined);
  if (f.healthcheck === false) {
    if (kinds > 0 || tuning) throw new InvalidArgumentError('--no-healthcheck conflicts with --health-* options');
    delete spec.task.healthcheck;
  } else if (kinds > 0 || tuning) {
    const base: HealthCheck = spec.task.healthcheck ?? { kind: 'tcp', intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 };
    if (kinds === 0 && !spec.task.healthcheck) throw new InvalidArgumentError('--health-interval/--health-timeout/--health-retries/--health-start-period need --health-cmd, --health-http or --health-tcp');
    const hc: HealthCheck = { ...base };
    if (f.healthCmd !== undefined) {
      if (!f.healthCmd.trim()) throw new InvalidArgumentError('--health-cmd must not be empty');
      Object.assign(hc, { kind: 'cmd', command: [f.healthCmd], path: undefined });
    }
    if (f.healthHttp !== undefined) {
      if (!f.healthHttp.startsWith('/')) throw new InvalidArgumentError(`invalid --health-http "${f.healthHttp}": a path starting with /`);
      Object.assign(hc, { kind: 'http', path: f.healthHttp, command: undefined });
    }
    if (f.healthTcp) Object.assign(hc, { kind: 'tcp', path: undefined, command: undefined });
    if (f.healthInterval !== undefined) hc.intervalMs = parseDuration(f.healthInterval, 'health interval');
    if (f.healthTimeout !== undefined) hc.timeoutMs = parseDuration(f.healthTimeout, 'health timeout');
    if (f.healthRetries !== undefined) hc.retries = parseCount(f.healthRetries, 'health retries');
    if (f.healthStartPeriod !== undefined) hc.startPeriodMs = parseDuration(f.healthStartPeriod, 'health start period');
    for (const k of ['command', 'path'] as const) if (hc[k] === undefined) delete hc[k];
    spec.task.healthcheck = hc;
  }
  if (f.replicasMaxPerNode !== undefined) spec.task.placement.maxReplicas = parseCount(f.replicasMaxPerNode, 'replicas max per node');
  const res = structuredClone(spec.task.resources ?? {});
  if (f.reserveCpu !== undefined) (res.reservations ??= {}).nanoCpus = parseCpus(f.reserveCpu, 'reserve CPU');
  if (f.reserveMemory !== undefined) (res.reservations ??= {}).memoryBytes = parseMemory(f.reserveMemory, 'reserve memory');
  if (f.limitCpu !== undefined) (res.limits ??= {}).nanoCpus = parseCpus(f.limitCpu, 'limit CPU');
  if (f.limitMemory !== undefined) (res.limits ??= {}).memoryBytes = parseMemory(f.limitMemory, 'limit memory');
  if (res.reservations || res.limits) spec.task.resources = res;
  if (f.maxConcurrent !== undefined) {
    if (!spec.mode.endsWith('-job')) throw new InvalidArgumentError('--max-concurrent can only be used with job modes');
    spec.maxConcurrent = parseCount(f.maxConcurrent, 'max concurrent');
  }
  const lb = { ...(spec.endpoint.lb ?? {}) };
  if (f.lbPolicy !== undefined) {
    if (!['round-robin', 'least-connections', 'source-hash'].includes(f.lbPolicy)) {
      throw new InvalidArgumentError(`invalid load-balancing policy "${f.lbPolicy}": use round-robin, least-connections or source-hash`);
    }
    lb.policy = f.lbPolicy as typeof lb.policy;
  }
  if (f.lbAffinityTimeout !== undefined) lb.affinityTimeoutMs = parseDuration(f.lbAffinityTimeout, 'affinity timeout');
  if (f.idleTimeout !== undefined) lb.idleTimeoutMs = parseDuration(f.idleTimeout, 'idle timeout');
  if (f.maxConnections !== undefined) lb.maxConnections = parseCount(f.maxConnections, 'max connections');
  if (f.maxConnectionsPerBackend !== undefined) lb.maxConnectionsPerBackend = parseCount(f.maxConnectionsPerBackend, 'max connections per backend');
  if (Object.keys(lb).length > 0) spec.endpoint.lb = lb;
  spec.updateConfig = applyUpdateConfig(spec.updateConfig, {
    parallelism: f.updateParallelism, delay: f.updateDelay, failureAction: f.updateFailureAction,
    monitor: f.updateMonitor, maxFailureRatio: f.updateMaxFailureRatio, order: f.updateOrder,
  }, 'update');
  spec.rollbackConfig = applyUpdateConfig(spec.rollbackConfig, {
    parallelism: f.rollbackParallelism, delay: f.rollbackDelay, failureAction: f.rollbackFailureAction,
    monitor: f.rollbackMonitor, maxFailureRatio: f.rollbackMaxFailureRatio, order: f.rollbackOrder,
  }, 'rollback');
  if (spec.updateConfig === undefined) delete spec.updateConfig;
  if (spec.rollbackConfig === undefined) delete spec.rollbackConfig;
}

function samePort(a: PortConfig, b: PortConfig): boolean {
  return a.targetPort === b.targetPort && a.protocol === b.protocol && a.publishedPort === b.publishedPort;
}

/** Apply `service update` flags to a copy of the current spec; `networks` (the cluster's) resolves --network-add/--network-rm names. */
export function applyUpdateFlags(current: ServiceSpec, flags: UpdateFlags, command: string[], networks: readonly Network[] = []): ServiceSpec {
  const spec: ServiceSpec = structuredClone(current);
  if ((flags.networkRm?.length ?? 0) > 0 || (flags.networkAdd?.length ?? 0) > 0) {
    spec.networks = applyNetworkFlags(spec.networks, flags.networkRm ?? [], flags.networkAdd ?? [], networks);
  }
  if (flags.replicas !== undefined) {
    if (spec.mode !== 'replicated') throw new InvalidArgumentError('--replicas can only be used with replicated mode');
    spec.replicas = parseCount(flags.replicas, 'replica count');
  }
  if (command.length > 0) spec.task.command = command;
  for (const k of flags.envRm) delete spec.task.env[k];
  Object.assign(spec.task.env, parseKeyValues(flags.envAdd, 'environment variable', true));
  for (const k of flags.labelRm) delete spec.labels[k];
  Object.assign(spec.labels, parseKeyValues(flags.labelAdd, 'label'));
  for (const c of flags.constraintRm) {
    const before = spec.task.placement.constraints.length;
    spec.task.placement.constraints = spec.task.placement.constraints.filter((x) => x.replace(/\s/g, '') !== c.replace(/\s/g, ''));
    if (spec.task.placement.constraints.length === before) throw new InvalidArgumentError(`constraint "${c}" is not set on this service`);
  }
  spec.task.placement.constraints.push(...checkConstraints(flags.constraintAdd));
  for (const p of flags.publishRm) {
    // Docker's --publish-rm takes the target port (or a full spec).
    const rm = /^\d+(\/\w+)?$/.test(p) ? null : parsePublish(p);
    const [tp, proto] = p.split('/');
    const before = spec.endpoint.ports.length;
    spec.endpoint.ports = spec.endpoint.ports.filter((x) =>
      rm ? !samePort(x, rm) : !(String(x.targetPort) === tp && (proto === undefined || x.protocol === proto)),
    );
    if (spec.endpoint.ports.length === before) throw new InvalidArgumentError(`port "${p}" is not published by this service`);
  }
  for (const p of flags.publishAdd) {
    const add = parsePublish(p);
    spec.endpoint.ports = spec.endpoint.ports.filter((x) => !(x.publishedPort !== undefined && x.publishedPort === add.publishedPort && x.protocol === add.protocol));
    spec.endpoint.ports.push(add);
  }
  const rp = spec.task.restartPolicy;
  if (flags.restartCondition !== undefined) rp.condition = restartCondition(flags.restartCondition);
  if (flags.restartDelay !== undefined) rp.delayMs = parseDuration(flags.restartDelay, 'restart delay');
  if (flags.restartMaxAttempts !== undefined) rp.maxAttempts = parseCount(flags.restartMaxAttempts, 'restart max attempts');
  if (flags.restartWindow !== undefined) rp.windowMs = parseDuration(flags.restartWindow, 'restart window');
  if (flags.stopGracePeriod !== undefined) spec.task.stopGracePeriodMs = parseDuration(flags.stopGracePeriod, 'stop grace period');
  if (flags.workdir !== undefined) spec.task.workdir = path.resolve(flags.workdir);
  for (const p of flags.placementPrefRm) {
    const rm = parsePlacementPref(p);
    const prefs = spec.task.placement.preferences ?? [];
    if (!prefs.some((x) => x.spread === rm.spread)) throw new InvalidArgumentError(`placement preference "${p}" is not set on this service`);
    spec.task.placement.preferences = prefs.filter((x) => x.spread !== rm.spread);
  }
  const add = flags.placementPrefAdd.map(parsePlacementPref);
  if (add.length > 0) spec.task.placement.preferences = [...(spec.task.placement.preferences ?? []), ...add];
  applySharedFlags(spec, flags);
  return spec;
}
