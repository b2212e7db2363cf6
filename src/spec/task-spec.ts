/**
 * A task against its service's spec, as the orchestrators and the CLI's
 * progress both read it:
 *
 * - its target ports: two published ports may forward to one target port,
 *   the process listens once;
 * - whether it still runs what its service asks for. A task is dirty when
 *   the service's task template, its target ports or its force-update
 *   counter moved on since the task was born; the updater replaces dirty
 *   tasks, and nothing else about a spec (replicas, labels, published
 *   ports) makes one;
 * - when it counts as up: the moment an update may move on and the moment
 *   its monitor window opens. Docker reports a task with a health check as
 *   running only once it is healthy; shoal keeps `running` and `health`
 *   apart, so both are read here.
 */
import type { Protocol, Service, Task } from '../model/types';

/** Ports a task of `service` listens on, each once, in the order first published. */
export function targetPorts(service: Service): { protocol: Protocol; port: number }[] {
  const seen = new Set<string>();
  const out: { protocol: Protocol; port: number }[] = [];
  for (const p of service.spec.endpoint.ports) {
    const key = `${p.protocol}/${p.targetPort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ protocol: p.protocol, port: p.targetPort });
  }
  return out;
}

/** Running, and healthy if its spec has a health check: the task serves traffic. */
export function isReady(task: Task): boolean {
  return task.status.state === 'running' && (!task.spec.healthcheck || task.status.health === 'healthy');
}

/** A task the updater must replace: born from another template, other target ports, or before a `--force`. */
export function isDirty(task: Task, service: Service): boolean {
  if ((task.forceUpdate ?? 0) !== (service.forceUpdate ?? 0)) return true;
  if (!sameValue(task.spec, service.spec.task)) return true;
  return portSet(task.targetPorts) !== portSet(targetPorts(service));
}

// The process listens on each target port once, whatever the order the ports were listed in.
function portSet(ports: readonly { protocol: string; port: number }[]): string {
  return ports
    .map((p) => `${p.protocol}/${p.port}`)
    .sort()
    .join(',');
}

/**
 * Deep equality of JSON values where a missing key and an `undefined` one are
 * the same: a spec that went through the store loses its undefined keys, the
 * one in memory may still have them.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bs = b as unknown[];
    return a.length === bs.length && a.every((x, i) => sameValue(x, bs[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const k of keys) if (!sameValue(ao[k], bo[k])) return false;
  return true;
}
