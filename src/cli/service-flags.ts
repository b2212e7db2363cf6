import { InvalidArgumentError } from '../errors';
import { parseConstraint } from '../manager/scheduler/constraint';
import type { PortConfig, RestartCondition, ServiceSpec } from '../model/types';
import { parseDuration } from './duration';
import { parsePublish } from './publish';

/** Flags of `service create`, as commander hands them over. */
export interface CreateFlags {
  name?: string;
  replicas?: string;
  mode?: string;
  publish: string[];
  endpointMode?: string;
  constraint: string[];
  env: string[];
  label: string[];
  restartCondition?: string;
  restartDelay?: string;
  restartMaxAttempts?: string;
  restartWindow?: string;
  stopGracePeriod?: string;
  workdir?: string;
}

/** Flags of `service update`. */
export interface UpdateFlags {
  replicas?: string;
  publishAdd: string[];
  publishRm: string[];
  constraintAdd: string[];
  constraintRm: string[];
  envAdd: string[];
  envRm: string[];
  labelAdd: string[];
  labelRm: string[];
  restartCondition?: string;
  restartDelay?: string;
  restartMaxAttempts?: string;
  restartWindow?: string;
  stopGracePeriod?: string;
  workdir?: string;
  force?: boolean;
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
  const mode = flags.mode ?? 'replicated';
  if (mode !== 'replicated' && mode !== 'global') throw new InvalidArgumentError(`invalid mode "${mode}": use replicated or global`);
  if (mode === 'global' && flags.replicas !== undefined) throw new InvalidArgumentError('--replicas can only be used with replicated mode');
  const endpointMode = flags.endpointMode ?? 'vip';
  if (endpointMode !== 'vip' && endpointMode !== 'dnsrr') throw new InvalidArgumentError(`invalid endpoint mode "${endpointMode}": use vip or dnsrr`);
  return {
    name: flags.name,
    labels: parseKeyValues(flags.label, 'label'),
    mode,
    replicas: flags.replicas === undefined ? 1 : parseCount(flags.replicas, 'replica count'),
    task: {
      command,
      env: parseKeyValues(flags.env, 'environment variable', true),
      workdir: flags.workdir,
      restartPolicy: {
        condition: restartCondition(flags.restartCondition ?? 'any'),
        delayMs: flags.restartDelay === undefined ? 5_000 : parseDuration(flags.restartDelay, 'restart delay'),
        maxAttempts: flags.restartMaxAttempts === undefined ? 0 : parseCount(flags.restartMaxAttempts, 'restart max attempts'),
        windowMs: flags.restartWindow === undefined ? 0 : parseDuration(flags.restartWindow, 'restart window'),
      },
      placement: { constraints: checkConstraints(flags.constraint) },
      stopGracePeriodMs: flags.stopGracePeriod === undefined ? 10_000 : parseDuration(flags.stopGracePeriod, 'stop grace period'),
    },
    endpoint: { mode: endpointMode, ports: flags.publish.map(parsePublish) },
  };
}

function samePort(a: PortConfig, b: PortConfig): boolean {
  return a.targetPort === b.targetPort && a.protocol === b.protocol && a.publishedPort === b.publishedPort;
}

/** Apply `service update` flags to a copy of the current spec. */
export function applyUpdateFlags(current: ServiceSpec, flags: UpdateFlags, command: string[]): ServiceSpec {
  const spec: ServiceSpec = structuredClone(current);
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
  if (flags.workdir !== undefined) spec.task.workdir = flags.workdir;
  return spec;
}
