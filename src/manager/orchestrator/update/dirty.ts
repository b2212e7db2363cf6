/**
 * Whether a task still runs what its service asks for. A task is dirty when
 * the service's task template, its target ports or its force-update counter
 * moved on since the task was born; the updater replaces dirty tasks, and
 * nothing else about a spec (replicas, labels, published ports) makes one.
 */
import type { Service, Task } from '../../../model/types';
import { targetPorts } from '../task-factory';

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
