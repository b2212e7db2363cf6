/**
 * One compose service as a shoal service spec: the mapping of every key
 * `docker stack deploy` honours (deploy:, ports, healthcheck, networks,
 * secrets, configs, environment, stop_grace_period) to the API's spec. The
 * result still goes through validateServiceSpec (stack-plan.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as shellParse } from 'shell-quote';
import { InvalidArgumentError } from '../errors';
import type { HealthCheck, PayloadReference, PortConfig, ServiceSpec, UpdateConfig } from '../model/types';
import { parseDuration } from '../spec/duration';
import { defaultTarget, type PayloadKind } from '../spec/payload';
import { parseCpus, parseMemory } from '../spec/resources';
import { parseDotEnv, type Variables } from './interpolate';

type Obj = Record<string, unknown>;

/** Docker's stack labels: the namespace every object of a stack carries, and the image a service was written for. */
export const STACK_LABELS = { namespace: 'com.docker.stack.namespace', image: 'com.docker.stack.image' } as const;

/** What mapping one service needs to know of the stack. */
export interface ServiceContext {
  namespace: string;
  /** Where relative paths start (the first compose file's directory). */
  dir: string;
  vars: Variables;
  /** Compose names to cluster names, for networks, secrets and configs the stack declares. */
  networks: ReadonlyMap<string, string>;
  secrets: ReadonlyMap<string, string>;
  configs: ReadonlyMap<string, string>;
  /** The network services that name none join (`NAME_default`). */
  defaultNetwork: string;
}

function fail(msg: string): never {
  throw new InvalidArgumentError(msg);
}

/** `${ns}_${name}`: how a stack names what it creates. */
export function stackName(namespace: string, name: string): string {
  return namespace ? `${namespace}_${name}` : name;
}

/** A compose command (string or list) as argv; a string splits as a shell would, without running one. */
export function commandArgv(v: unknown, where: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map(String);
  const words = shellParse(String(v), (key) => `$${key}`);
  return words.map((w) => {
    if (typeof w === 'string') return w;
    if ('op' in w && w.op === 'glob') return (w as { pattern: string }).pattern;
    fail(`${where}: "${String(v)}" needs a shell (${'op' in w ? w.op : 'comment'}): write [sh, -c, "..."]`);
  });
}

function duration(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  try {
    return parseDuration(String(v), where);
  } catch {
    return fail(`${where}: invalid duration "${String(v)}": use e.g. 10s, 1m30s, 500ms`);
  }
}

function envValues(map: Obj, vars: Variables): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) {
    // `FOO` alone takes the caller's value, and is left out when it has none.
    if (v === null || v === undefined) {
      if (vars[k] !== undefined) out[k] = vars[k] as string;
    } else out[k] = String(v);
  }
  return out;
}

function envFiles(v: unknown, dir: string, where: string): Record<string, string> {
  if (v === undefined) return {};
  const list = (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'string' ? { path: x, required: true } : (x as { path: string; required?: boolean })));
  const out: Record<string, string> = {};
  for (const f of list) {
    const file = path.resolve(dir, f.path);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (f.required === false) continue;
      return fail(`${where}.env_file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    Object.assign(out, parseDotEnv(text, file));
  }
  return out;
}

function portNumber(v: string, where: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) fail(`${where}: invalid port "${v}"`);
  return n;
}

function portRange(v: string, where: string): number[] {
  const [a, b] = v.split('-');
  const lo = portNumber(a, where);
  const hi = b === undefined ? lo : portNumber(b, where);
  if (hi < lo) fail(`${where}: invalid port range "${v}"`);
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

/** Compose ports: `"8080:80"`, `"80"`, `"9000-9001:9000-9001/udp"`, `"127.0.0.1:8080:80"`, or the long form. */
export function composePorts(v: unknown, where: string, warnings: string[]): PortConfig[] {
  if (v === undefined) return [];
  return (v as unknown[]).flatMap((p, i): PortConfig[] => {
    const at = `${where}.ports[${i}]`;
    if (typeof p === 'object' && p !== null) {
      const o = p as Obj;
      if (o.host_ip !== undefined) warnings.push(`${at}: host_ip is not supported by shoal: published on every address`);
      if (o.target === undefined) fail(`${at}: target is required`);
      return [{
        targetPort: o.target as number,
        ...(o.published !== undefined && { publishedPort: portNumber(String(o.published), at) }),
        protocol: (o.protocol as 'tcp' | 'udp' | undefined) ?? 'tcp',
        publishMode: (o.mode as 'ingress' | 'host' | undefined) ?? 'ingress',
      }];
    }
    const m = /^(?:(?:(\[[^\]]+\]|[\d.]+):)?([\d-]*):)?([\d-]+)(?:\/(tcp|udp))?$/.exec(String(p));
    if (!m) fail(`${at}: invalid port "${String(p)}": use [[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL]`);
    const [, hostIp, published, target, proto] = m;
    if (hostIp) warnings.push(`${at}: host IP ${hostIp} is not supported by shoal: published on every address`);
    const targets = portRange(target, at);
    const publishedPorts = published ? portRange(published, at) : [];
    if (publishedPorts.length > 0 && publishedPorts.length !== targets.length) fail(`${at}: published and target ranges differ in length`);
    return targets.map((t, j) => ({
      targetPort: t,
      ...(publishedPorts.length > 0 && { publishedPort: publishedPorts[j] }),
      protocol: (proto as 'tcp' | 'udp' | undefined) ?? 'tcp',
      publishMode: 'ingress',
    }));
  });
}

function healthcheck(v: unknown, where: string): HealthCheck | null | undefined {
  if (v === undefined) return undefined;
  const h = v as Obj;
  if (h.disable === true) return null;
  let test = h.test;
  if (test === undefined) return fail(`${where}.healthcheck: test is required (or disable: true)`);
  if (typeof test === 'string') test = ['CMD-SHELL', test];
  const [kind, ...args] = (test as unknown[]).map(String);
  if (kind === 'NONE') return null;
  let command: string[];
  if (kind === 'CMD') command = args;
  else if (kind === 'CMD-SHELL') command = [args.join(' ')];
  else return fail(`${where}.healthcheck.test: must start with CMD, CMD-SHELL or NONE`);
  return {
    kind: 'cmd',
    command,
    intervalMs: duration(h.interval, `${where}.healthcheck.interval`) ?? 30_000,
    timeoutMs: duration(h.timeout, `${where}.healthcheck.timeout`) ?? 30_000,
    retries: (h.retries as number | undefined) ?? 3,
    startPeriodMs: duration(h.start_period, `${where}.healthcheck.start_period`) ?? 0,
  };
}

function updateConfig(v: unknown, where: string): Partial<UpdateConfig> | undefined {
  if (v === undefined) return undefined;
  const o = v as Obj;
  const out: Record<string, unknown> = {
    parallelism: o.parallelism,
    delayMs: duration(o.delay, `${where}.delay`),
    failureAction: o.failure_action,
    monitorMs: duration(o.monitor, `${where}.monitor`),
    maxFailureRatio: o.max_failure_ratio,
    order: o.order,
  };
  return Object.fromEntries(Object.entries(out).filter(([, x]) => x !== undefined)) as Partial<UpdateConfig>;
}

function resources(v: unknown, where: string): ServiceSpec['task']['resources'] {
  if (v === undefined) return undefined;
  const one = (r: unknown, kind: string) => {
    if (r === undefined) return undefined;
    const o = r as Obj;
    return {
      ...(o.cpus !== undefined && { nanoCpus: parseCpus(String(o.cpus), `${where}.deploy.resources.${kind}.cpus`) }),
      ...(o.memory !== undefined && { memoryBytes: parseMemory(String(o.memory), `${where}.deploy.resources.${kind}.memory`) }),
    };
  };
  const o = v as Obj;
  const limits = one(o.limits, 'limits');
  const reservations = one(o.reservations, 'reservations');
  return { ...(limits && { limits }), ...(reservations && { reservations }) };
}

function payloadRefs(v: unknown, kind: PayloadKind, names: ReadonlyMap<string, string>, where: string): PayloadReference[] | undefined {
  if (v === undefined) return undefined;
  return (v as unknown[]).map((r, i) => {
    const o: Obj = typeof r === 'string' ? { source: r } : (r as Obj);
    const source = String(o.source ?? '');
    const name = names.get(source);
    if (!name) fail(`${where}.${kind}s[${i}]: ${kind} "${source}" is not declared in the top-level ${kind}s`);
    const idOf = (x: unknown, what: string) => {
      if (x === undefined) return undefined;
      if (!/^\d+$/.test(String(x))) fail(`${where}.${kind}s[${i}].${what}: must be a number`);
      return Number(x);
    };
    const mode = o.mode === undefined ? undefined : typeof o.mode === 'number' ? o.mode : /^[0-7]{1,4}$/.test(String(o.mode)) ? parseInt(String(o.mode), 8) : fail(`${where}.${kind}s[${i}].mode: use octal, e.g. 0440`);
    const uid = idOf(o.uid, 'uid');
    const gid = idOf(o.gid, 'gid');
    return {
      id: '',
      name,
      // Docker names the file after the compose name, not the stack's: /run/secrets/db_password.
      file: { target: (o.target as string | undefined) ?? defaultTarget(source, kind), mode: mode ?? 0o444, ...(uid !== undefined && { uid }), ...(gid !== undefined && { gid }) },
    };
  });
}

function serviceNetworks(v: unknown, ctx: ServiceContext, where: string, warnings: string[]): string[] {
  if (v === undefined) return [ctx.defaultNetwork];
  const entries: [string, Obj | null][] = Array.isArray(v) ? v.map((n) => [String(n), null]) : Object.entries(v as Record<string, Obj | null>);
  return entries.map(([n, opts]) => {
    const full = ctx.networks.get(n);
    if (!full) fail(`${where}.networks: network "${n}" is not declared in the top-level networks`);
    for (const k of Object.keys(opts ?? {})) warnings.push(`${where}.networks.${n}: ${k} is not supported by shoal: ignored`);
    return full;
  });
}

/** The spec of compose service `name` (before validateServiceSpec fills defaults); warnings are appended. */
export function composeServiceSpec(name: string, svc: Obj, ctx: ServiceContext, warnings: string[]): ServiceSpec {
  const where = `services.${name}`;
  const d = (svc.deploy ?? {}) as Obj;
  const command = commandArgv(svc['x-shoal-command'], `${where}.x-shoal-command`) ?? [
    ...(commandArgv(svc.entrypoint, `${where}.entrypoint`) ?? []),
    ...(commandArgv(svc.command, `${where}.command`) ?? []),
  ];
  if (command.length === 0) {
    fail(svc.image ? `${where}: image ${String(svc.image)} cannot run: shoal runs processes, so add command: or x-shoal-command:` : `${where}: a command is required (command: or x-shoal-command:)`);
  }
  const rp = d.restart_policy as Obj | undefined;
  const placement = (d.placement ?? {}) as Obj;
  const labels: Record<string, string> = { ...envValues((d.labels ?? {}) as Obj, {}), [STACK_LABELS.namespace]: ctx.namespace };
  if (svc.image) labels[STACK_LABELS.image] = String(svc.image);
  const spec: Record<string, unknown> = {
    name: stackName(ctx.namespace, name),
    labels,
    mode: d.mode ?? 'replicated',
    ...(d.replicas !== undefined && { replicas: d.replicas }),
    task: {
      command,
      env: { ...envFiles(svc.env_file, ctx.dir, where), ...envValues((svc.environment ?? {}) as Obj, ctx.vars) },
      workdir: path.resolve(ctx.dir, (svc.working_dir as string | undefined) ?? '.'),
      ...(rp && {
        restartPolicy: {
          condition: rp.condition,
          delayMs: duration(rp.delay, `${where}.deploy.restart_policy.delay`),
          maxAttempts: rp.max_attempts,
          windowMs: duration(rp.window, `${where}.deploy.restart_policy.window`),
        },
      }),
      placement: {
        constraints: placement.constraints ?? [],
        ...(placement.preferences !== undefined && { preferences: placement.preferences }),
        ...(placement.max_replicas_per_node !== undefined && { maxReplicas: placement.max_replicas_per_node }),
      },
      stopGracePeriodMs: duration(svc.stop_grace_period, `${where}.stop_grace_period`),
      healthcheck: healthcheck(svc.healthcheck, where) ?? undefined,
      resources: resources(d.resources, where),
      secrets: payloadRefs(svc.secrets, 'secret', ctx.secrets, where),
      configs: payloadRefs(svc.configs, 'config', ctx.configs, where),
    },
    updateConfig: updateConfig(d.update_config, `${where}.deploy.update_config`),
    rollbackConfig: updateConfig(d.rollback_config, `${where}.deploy.rollback_config`),
    endpoint: { mode: d.endpoint_mode ?? 'vip', ports: composePorts(svc.ports, where, warnings) },
    networks: serviceNetworks(svc.networks, ctx, where, warnings),
  };
  return spec as unknown as ServiceSpec;
}
