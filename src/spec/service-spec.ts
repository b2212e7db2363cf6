import { InvalidArgumentError } from '../errors';
import type { HealthCheck, LbSettings, Placement, PortConfig, Resources, RestartCondition, ServiceModeName, ServiceSpec, UpdateConfig } from '../model/types';
import { parseConstraint } from './constraint';
import { validatePayloadRefs } from './payload';

/** Docker's defaults for what a spec leaves out. */
export const SPEC_DEFAULTS = {
  replicas: 1,
  restartDelayMs: 5_000,
  stopGracePeriodMs: 10_000,
  healthIntervalMs: 30_000,
  healthTimeoutMs: 30_000,
  healthRetries: 3,
} as const;

/** Docker's default update and rollback config. */
export const DEFAULT_UPDATE_CONFIG: UpdateConfig = {
  parallelism: 1,
  delayMs: 0,
  failureAction: 'pause',
  monitorMs: 5_000,
  maxFailureRatio: 0,
  order: 'stop-first',
};

const MODES: ServiceModeName[] = ['replicated', 'global', 'replicated-job', 'global-job'];
const MAX_MS = 2 ** 31;

/** swarmkit's rule: letters and digits, joined by '-' or '_', at most 63. */
const NAME_RE = /^(?=.{1,63}$)[a-zA-Z0-9](?:[-_]*[a-zA-Z0-9]+)*$/;
const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED_NAMES = new Set(['tasks']);

function fail(msg: string): never {
  throw new InvalidArgumentError(msg);
}

function int(v: unknown, what: string, min: number, max: number, dflt?: number): number {
  if (v === undefined || v === null) {
    if (dflt === undefined) fail(`${what} is required`);
    return dflt;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(`invalid ${what} ${JSON.stringify(v)}: must be an integer from ${min} to ${max}`);
  }
  return v;
}

function strRecord(v: unknown, what: string, keyRe?: RegExp): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail(`${what} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (typeof val !== 'string') fail(`${what} ${k}: value must be a string`);
    if (keyRe && !keyRe.test(k)) fail(`invalid ${what} name "${k}"`);
    if (!k) fail(`${what}: empty name`);
    out[k] = val;
  }
  return out;
}

/** Validate a port entry and fill its defaults. */
export function validatePort(p: unknown): PortConfig {
  if (!p || typeof p !== 'object') fail('each port must be an object');
  const o = p as Record<string, unknown>;
  const protocol = o.protocol ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') fail(`invalid protocol "${String(protocol)}": use tcp or udp`);
  const publishMode = o.publishMode ?? 'ingress';
  if (publishMode !== 'ingress' && publishMode !== 'host') fail(`invalid publish mode "${String(publishMode)}": use ingress or host`);
  const targetPort = int(o.targetPort, 'target port', 1, 65535);
  const publishedPort = o.publishedPort === undefined || o.publishedPort === null ? undefined : int(o.publishedPort, 'published port', 1, 65535);
  // Docker would pick a random node port; shoal has no way to tell clients which, so the operator names it.
  if (publishMode === 'host' && publishedPort === undefined) fail(`host-mode publish needs published=PORT (target port ${targetPort})`);
  const out: PortConfig = { protocol, targetPort, publishedPort, publishMode };
  if (o.proxyProtocol !== undefined && o.proxyProtocol !== null) {
    if (o.proxyProtocol !== 'v1' && o.proxyProtocol !== 'v2') fail(`invalid proxy protocol "${String(o.proxyProtocol)}": use v1 or v2`);
    if (protocol !== 'tcp' || publishMode !== 'ingress' || publishedPort === undefined) fail('proxy-protocol needs a TCP port published in ingress mode');
    out.proxyProtocol = o.proxyProtocol;
  }
  return out;
}

/**
 * Check a service spec from the API and fill in Docker's defaults. Throws
 * InvalidArgumentError naming the first bad field; nothing is stored then.
 */
export function validateServiceSpec(input: unknown): ServiceSpec {
  if (!input || typeof input !== 'object') fail('service spec must be an object');
  const s = input as Record<string, unknown>;
  const name = s.name;
  if (typeof name !== 'string' || !name) fail('service name is required (--name)');
  if (!NAME_RE.test(name)) {
    fail(`invalid service name "${name}": use letters, digits, '-' and '_', at most 63, starting and ending with a letter or digit`);
  }
  if (RESERVED_NAMES.has(name.toLowerCase())) fail(`invalid service name "${name}": reserved`);
  const mode = (s.mode ?? 'replicated') as ServiceModeName;
  if (!MODES.includes(mode)) fail(`invalid mode "${String(mode)}": use ${MODES.join(', ')}`);
  const global = mode === 'global' || mode === 'global-job';
  const replicas = global ? 0 : int(s.replicas, 'replica count', 0, 100_000, SPEC_DEFAULTS.replicas);
  const isJob = mode === 'replicated-job' || mode === 'global-job';
  if (!isJob && s.maxConcurrent !== undefined && s.maxConcurrent !== null) fail('max concurrent can only be used with job modes');
  const maxConcurrent = isJob ? int(s.maxConcurrent, 'max concurrent', 0, 100_000, 0) : undefined;

  const t = (s.task ?? {}) as Record<string, unknown>;
  const command = t.command;
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string') || !command[0]) {
    fail('a command to run is required: shoal service create --name NAME -- COMMAND [ARG...]');
  }
  const env = strRecord(t.env, 'environment variable', ENV_KEY_RE);
  const rp = (t.restartPolicy ?? {}) as Record<string, unknown>;
  // Jobs restart on failure only by default, as Docker's.
  const condition = (rp.condition ?? (isJob ? 'on-failure' : 'any')) as RestartCondition;
  if (!['any', 'on-failure', 'none'].includes(condition)) fail(`invalid restart condition "${String(condition)}": use any, on-failure or none`);
  const placement = (t.placement ?? {}) as Record<string, unknown>;
  const constraints = placement.constraints ?? [];
  if (!Array.isArray(constraints) || !constraints.every((c) => typeof c === 'string')) fail('constraints must be a list of strings');
  for (const c of constraints as string[]) parseConstraint(c);
  const preferences = validatePreferences(placement.preferences);
  const maxReplicas = int(placement.maxReplicas, 'max replicas per node', 0, 100_000, 0);
  if (t.workdir !== undefined && typeof t.workdir !== 'string') fail('workdir must be a string');

  const ep = (s.endpoint ?? {}) as Record<string, unknown>;
  const epMode = ep.mode ?? 'vip';
  if (epMode !== 'vip' && epMode !== 'dnsrr') fail(`invalid endpoint mode "${String(epMode)}": use vip or dnsrr`);
  const rawPorts = ep.ports ?? [];
  if (!Array.isArray(rawPorts)) fail('ports must be a list');
  const ports = rawPorts.map(validatePort);
  if (epMode === 'dnsrr' && ports.some((p) => p.publishMode === 'ingress' && p.publishedPort !== undefined)) {
    fail('port published with ingress mode cannot be used with dnsrr endpoint mode');
  }
  const seen = new Set<string>();
  for (const p of ports) {
    if (p.publishedPort === undefined) continue;
    const k = `${p.publishedPort}/${p.protocol}`;
    if (seen.has(k)) fail(`published port ${k} is given twice`);
    seen.add(k);
  }

  const hostPort = ports.find((p) => p.publishMode === 'host' && p.publishedPort !== undefined);
  if (hostPort && maxReplicas > 1) {
    fail(
      `port ${hostPort.publishedPort}/${hostPort.protocol} is published in host mode, so at most 1 task per node can bind it: use --replicas-max-per-node 1`,
    );
  }

  const placementOut: Placement = { constraints: constraints as string[] };
  if (preferences.length > 0) placementOut.preferences = preferences;
  if (maxReplicas > 0) placementOut.maxReplicas = maxReplicas;
  const spec: ServiceSpec = {
    name,
    labels: strRecord(s.labels, 'label'),
    mode,
    replicas,
    task: {
      command: command as string[],
      env,
      workdir: t.workdir as string | undefined,
      restartPolicy: {
        condition,
        delayMs: int(rp.delayMs, 'restart delay', 0, 2 ** 31, SPEC_DEFAULTS.restartDelayMs),
        maxAttempts: int(rp.maxAttempts, 'restart max attempts', 0, 2 ** 31, 0),
        windowMs: int(rp.windowMs, 'restart window', 0, 2 ** 31, 0),
      },
      placement: placementOut,
      stopGracePeriodMs: int(t.stopGracePeriodMs, 'stop grace period', 0, 2 ** 31, SPEC_DEFAULTS.stopGracePeriodMs),
    },
    endpoint: { mode: epMode, ports, ...validateLb(ep.lb) },
    updateConfig: validateUpdateConfig(s.updateConfig, 'update'),
    rollbackConfig: validateUpdateConfig(s.rollbackConfig, 'rollback'),
  };
  if (maxConcurrent !== undefined) spec.maxConcurrent = maxConcurrent;
  const networks = validateNetworks(s.networks);
  if (networks) spec.networks = networks;
  const healthcheck = validateHealthCheck(t.healthcheck);
  if (healthcheck) spec.task.healthcheck = healthcheck;
  const resources = validateResources(t.resources);
  if (resources) spec.task.resources = resources;
  const secrets = validatePayloadRefs(t.secrets, 'secret');
  if (secrets) spec.task.secrets = secrets;
  const configs = validatePayloadRefs(t.configs, 'config');
  if (configs) spec.task.configs = configs;
  return spec;
}

/** Network names or ids as given; the manager resolves them to ids against the store. */
function validateNetworks(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.trim() !== '')) fail('networks must be a list of network names or ids');
  return v.length > 0 ? (v as string[]) : undefined;
}

function validateLb(v: unknown): { lb?: LbSettings } {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object') fail('load-balancing settings must be an object');
  const o = v as Record<string, unknown>;
  const lb: LbSettings = {};
  if (o.policy !== undefined) {
    if (!['round-robin', 'least-connections', 'source-hash'].includes(o.policy as string)) {
      fail(`invalid load-balancing policy "${String(o.policy)}": use round-robin, least-connections or source-hash`);
    }
    lb.policy = o.policy as LbSettings['policy'];
  }
  if (o.affinityTimeoutMs !== undefined) lb.affinityTimeoutMs = int(o.affinityTimeoutMs, 'affinity timeout', 1, MAX_MS);
  if (o.idleTimeoutMs !== undefined) lb.idleTimeoutMs = int(o.idleTimeoutMs, 'idle timeout', 0, MAX_MS);
  if (o.maxConnections !== undefined) lb.maxConnections = int(o.maxConnections, 'max connections', 0, 10_000_000);
  if (o.maxConnectionsPerBackend !== undefined) lb.maxConnectionsPerBackend = int(o.maxConnectionsPerBackend, 'max connections per backend', 0, 10_000_000);
  return Object.keys(lb).length > 0 ? { lb } : {};
}

function validatePreferences(v: unknown): { spread: string }[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail('placement preferences must be a list');
  return v.map((p) => {
    const spread = (p as { spread?: unknown })?.spread;
    if (typeof spread !== 'string' || !/^node\.labels\.[^\s=]+$/.test(spread)) {
      fail(`invalid placement preference ${JSON.stringify(p)}: use spread=node.labels.<label>`);
    }
    return { spread };
  });
}

/** Check an update or rollback config and fill Docker's defaults. */
export function validateUpdateConfig(v: unknown, what: 'update' | 'rollback'): UpdateConfig {
  if (v === undefined || v === null) return { ...DEFAULT_UPDATE_CONFIG };
  if (typeof v !== 'object') fail(`${what} config must be an object`);
  const o = v as Record<string, unknown>;
  const d = DEFAULT_UPDATE_CONFIG;
  const failureAction = (o.failureAction ?? d.failureAction) as UpdateConfig['failureAction'];
  const actions = what === 'update' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue'];
  if (!actions.includes(failureAction)) fail(`invalid ${what} failure action "${String(failureAction)}": use ${actions.join(', ')}`);
  const order = (o.order ?? d.order) as UpdateConfig['order'];
  if (order !== 'stop-first' && order !== 'start-first') fail(`invalid ${what} order "${String(order)}": use stop-first or start-first`);
  const ratio = o.maxFailureRatio ?? d.maxFailureRatio;
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio <= 1)) fail(`invalid ${what} max failure ratio ${JSON.stringify(ratio)}: must be from 0 to 1`);
  return {
    parallelism: int(o.parallelism, `${what} parallelism`, 0, 100_000, d.parallelism),
    delayMs: int(o.delayMs, `${what} delay`, 0, MAX_MS, d.delayMs),
    failureAction,
    monitorMs: int(o.monitorMs, `${what} monitor`, 0, MAX_MS, d.monitorMs),
    maxFailureRatio: ratio,
    order,
  };
}

function validateHealthCheck(v: unknown): HealthCheck | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object') fail('healthcheck must be an object');
  const o = v as Record<string, unknown>;
  const kind = o.kind;
  if (kind !== 'cmd' && kind !== 'http' && kind !== 'tcp') fail(`invalid health check kind "${String(kind)}": use cmd, http or tcp`);
  const hc: HealthCheck = {
    kind,
    intervalMs: int(o.intervalMs, 'health interval', 1, MAX_MS, SPEC_DEFAULTS.healthIntervalMs),
    timeoutMs: int(o.timeoutMs, 'health timeout', 1, MAX_MS, SPEC_DEFAULTS.healthTimeoutMs),
    retries: int(o.retries, 'health retries', 1, 1_000, SPEC_DEFAULTS.healthRetries),
    startPeriodMs: int(o.startPeriodMs, 'health start period', 0, MAX_MS, 0),
  };
  if (kind === 'cmd') {
    const c = o.command;
    if (!Array.isArray(c) || c.length === 0 || !c.every((x) => typeof x === 'string') || !c[0]) fail('health check command must not be empty');
    hc.command = c as string[];
  }
  if (kind === 'http') {
    const p = o.path ?? '/';
    if (typeof p !== 'string' || !p.startsWith('/')) fail(`invalid health check path ${JSON.stringify(p)}: must start with /`);
    hc.path = p;
  }
  return hc;
}

function validateResources(v: unknown): { reservations?: Partial<Resources>; limits?: Partial<Resources> } | undefined {
  if (v === undefined || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const one = (x: unknown, what: string): Partial<Resources> | undefined => {
    if (x === undefined || x === null) return undefined;
    const r = x as Record<string, unknown>;
    const out: Partial<Resources> = {};
    if (r.nanoCpus !== undefined) out.nanoCpus = int(r.nanoCpus, `${what} CPUs`, 0, 1e15);
    if (r.memoryBytes !== undefined) out.memoryBytes = int(r.memoryBytes, `${what} memory`, 0, Number.MAX_SAFE_INTEGER);
    return out;
  };
  const reservations = one(o.reservations, 'reserved');
  const limits = one(o.limits, 'limit');
  if (limits?.memoryBytes !== undefined && limits.memoryBytes > 0 && limits.memoryBytes < 4 * 1024 * 1024) {
    fail('invalid memory limit: the minimum is 4MiB');
  }
  if (!reservations && !limits) return undefined;
  return { ...(reservations ? { reservations } : {}), ...(limits ? { limits } : {}) };
}
