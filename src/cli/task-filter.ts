import { InvalidArgumentError } from '../errors';
import type { Node, Task } from '../model/types';
import { taskName } from './task-name';

/** Keys `service ps --filter` takes, as Docker's. */
export const TASK_FILTER_KEYS = ['desired-state', 'node', 'id', 'name'] as const;
/** One filter key. */
export type TaskFilterKey = (typeof TASK_FILTER_KEYS)[number];
/** Values of `desired-state=`. */
const DESIRED_STATES = ['running', 'shutdown', 'accepted'];

/** Parsed filters: the values given for each key. */
export type TaskFilter = Map<TaskFilterKey, string[]>;

/** Parses repeated `-f KEY=VALUE` flags; throws InvalidArgumentError naming the first bad one. */
export function parseTaskFilters(flags: readonly string[]): TaskFilter {
  const out: TaskFilter = new Map();
  for (const f of flags) {
    const eq = f.indexOf('=');
    const key = (eq < 0 ? f : f.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : f.slice(eq + 1).trim();
    if (!(TASK_FILTER_KEYS as readonly string[]).includes(key)) throw new InvalidArgumentError(`invalid filter '${key || f}'`);
    if (value === '') throw new InvalidArgumentError(`invalid filter '${f}': expected ${key}=<value>`);
    if (key === 'desired-state' && !DESIRED_STATES.includes(value.toLowerCase())) {
      throw new InvalidArgumentError(`invalid filter '${f}': desired-state must be ${DESIRED_STATES.join(', ')}`);
    }
    const k = key as TaskFilterKey;
    out.set(k, [...(out.get(k) ?? []), value]);
  }
  return out;
}

/**
 * Whether a task passes: for each key given, one of its values matches (OR),
 * and every key given matches (AND). `node` is a hostname, id or id prefix;
 * `id` an id prefix; `name` a task name (web.1).
 */
export function matchesFilter(t: Task, filter: TaskFilter, nodes: ReadonlyMap<string, Node>): boolean {
  for (const [key, values] of filter) {
    if (!values.some((v) => matchOne(t, key, v, nodes))) return false;
  }
  return true;
}

function matchOne(t: Task, key: TaskFilterKey, v: string, nodes: ReadonlyMap<string, Node>): boolean {
  switch (key) {
    case 'desired-state': {
      const want = v.toLowerCase();
      if (want === 'shutdown') return t.desiredState !== 'running' && t.desiredState !== 'accepted';
      return t.desiredState === want;
    }
    case 'node':
      return t.nodeId !== '' && (t.nodeId.startsWith(v) || nodes.get(t.nodeId)?.hostname === v);
    case 'id':
      return t.id.startsWith(v);
    case 'name':
      return taskName(t) === v;
  }
}
