import { InvalidArgumentError } from '../errors';
import type { PortConfig, RestartCondition, ServiceSpec } from '../model/types';
import { parseConstraint } from './scheduler/constraint';

/** Docker's defaults for what a spec leaves out. */
export const SPEC_DEFAULTS = {
  replicas: 1,
  restartDelayMs: 5_000,
  stopGracePeriodMs: 10_000,
} as const;

const NAME_RE = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
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
  return { protocol, targetPort, publishedPort, publishMode };
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
    fail(`invalid service name "${name}": use letters, digits and '-', at most 63, starting and ending with a letter or digit`);
  }
  if (RESERVED_NAMES.has(name.toLowerCase())) fail(`invalid service name "${name}": reserved`);
  const mode = s.mode ?? 'replicated';
  if (mode !== 'replicated' && mode !== 'global') fail(`invalid mode "${String(mode)}": use replicated or global`);
  const replicas = mode === 'global' ? 0 : int(s.replicas, 'replica count', 0, 100_000, SPEC_DEFAULTS.replicas);

  const t = (s.task ?? {}) as Record<string, unknown>;
  const command = t.command;
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string') || !command[0]) {
    fail('a command to run is required: shoal service create --name NAME -- COMMAND [ARG...]');
  }
  const env = strRecord(t.env, 'environment variable', ENV_KEY_RE);
  const rp = (t.restartPolicy ?? {}) as Record<string, unknown>;
  const condition = (rp.condition ?? 'any') as RestartCondition;
  if (!['any', 'on-failure', 'none'].includes(condition)) fail(`invalid restart condition "${String(condition)}": use any, on-failure or none`);
  const placement = (t.placement ?? {}) as Record<string, unknown>;
  const constraints = placement.constraints ?? [];
  if (!Array.isArray(constraints) || !constraints.every((c) => typeof c === 'string')) fail('constraints must be a list of strings');
  for (const c of constraints as string[]) parseConstraint(c);
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

  return {
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
      placement: { constraints: constraints as string[] },
      stopGracePeriodMs: int(t.stopGracePeriodMs, 'stop grace period', 0, 2 ** 31, SPEC_DEFAULTS.stopGracePeriodMs),
    },
    endpoint: { mode: epMode, ports },
  };
}
