import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { parseDuration } from '../spec/duration';
import { parsePublish } from '../spec/publish';
import { InvalidArgumentError } from '../errors';
import type { PortConfig, ServiceSpec } from '../model/types';

type Obj = Record<string, unknown>;

function portOf(p: unknown): PortConfig {
  if (typeof p === 'string' || typeof p === 'number') return parsePublish(String(p));
  const o = p as Obj;
  return parsePublish(
    Object.entries({ published: o.published, target: o.target, protocol: o.protocol, mode: o.mode })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  );
}

function envOf(e: unknown): Record<string, string> {
  if (!e) return {};
  if (Array.isArray(e)) return Object.fromEntries(e.map((x) => String(x).split(/=(.*)/s).slice(0, 2)));
  return Object.fromEntries(Object.entries(e as Obj).map(([k, v]) => [k, String(v)]));
}

/**
 * Read a compose-like stack file (the subset shoal runs: command, replicas,
 * mode, ports, environment, constraints, restart policy) into service specs.
 * Task commands run in the file's directory unless they set working_dir.
 */
export async function loadStackFile(file: string): Promise<ServiceSpec[]> {
  let doc: Obj;
  try {
    doc = YAML.parse(await readFile(file, 'utf8')) as Obj;
  } catch (err) {
    throw new InvalidArgumentError(`cannot read stack file ${file}: ${(err as Error).message}`);
  }
  const services = (doc?.services ?? {}) as Record<string, Obj>;
  const dir = path.dirname(path.resolve(file));
  return Object.entries(services).map(([name, s]) => {
    const deploy = (s.deploy ?? {}) as Obj;
    const command = Array.isArray(s.command) ? s.command.map(String) : String(s.command ?? '').split(/\s+/).filter(Boolean);
    const rp = (deploy.restart_policy ?? {}) as Obj;
    const placement = (deploy.placement ?? {}) as Obj;
    return {
      name,
      labels: envOf(deploy.labels ?? s.labels),
      mode: (deploy.mode ?? s.mode ?? 'replicated') as ServiceSpec['mode'],
      replicas: Number(deploy.replicas ?? s.replicas ?? 1),
      task: {
        command,
        env: envOf(s.environment),
        workdir: s.working_dir ? path.resolve(dir, String(s.working_dir)) : dir,
        restartPolicy: {
          condition: (rp.condition ?? 'any') as 'any',
          delayMs: rp.delay ? parseDuration(String(rp.delay)) : 5_000,
          maxAttempts: Number(rp.max_attempts ?? 0),
          windowMs: rp.window ? parseDuration(String(rp.window)) : 0,
        },
        placement: { constraints: ((placement.constraints ?? s.constraints ?? []) as unknown[]).map(String) },
        stopGracePeriodMs: s.stop_grace_period ? parseDuration(String(s.stop_grace_period)) : 10_000,
      },
      endpoint: {
        mode: (deploy.endpoint_mode ?? 'vip') as 'vip',
        ports: ((s.ports ?? []) as unknown[]).map(portOf),
      },
    };
  });
}
