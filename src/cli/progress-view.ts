import { pendingTrouble } from '../spec/pending';
import { isDirty, isReady } from '../spec/task-spec';
import type { Service, Task, TaskState } from '../model/types';

/**
 * Failures of the current spec every slot must have had, with none running,
 * before `service create/update/scale/rollback` stops waiting: by then the
 * restart policy has had its chances and the cause is known.
 */
export const GIVE_UP_FAILURES = 3;
/** How long tasks must stay up before the service counts as converged, when the spec sets no update monitor (Docker's 5 s). */
export const DEFAULT_STABLE_MS = 5_000;

/** Whether a task runs the service's current spec (what `service update` waits for). */
export function runsCurrentSpec(task: Task, service: Service): boolean {
  return !isDirty(task, service);
}

/** One line of progress: a slot (replicated) or a node (global). */
export interface ProgressLine {
  /** `3/6` for slot 3 of 6, or a node id for global services. */
  label: string;
  /** The task's name as `service ps` shows it: `web.3`, or `web.<node>`. */
  name: string;
  state: TaskState | 'complete' | '';
  done: boolean;
  /** Why the slot is not running: the newest error of its current-spec tasks, or why its task waits. */
  err?: string;
  /** Tasks of the current spec in this slot that failed or were rejected. */
  failures: number;
  /** When its task became ready (ms since the epoch), once done. */
  readySinceMs?: number;
}

/** Progress of a service towards its spec, from one look at the service and its tasks. */
export interface Progress {
  lines: ProgressLine[];
  done: number;
  total: number;
  /** Set when waiting longer is pointless: every slot failed GIVE_UP_FAILURES times and none runs. The reason, one line. */
  hopeless?: string;
}

const FAILED: readonly TaskState[] = ['failed', 'rejected'];

/** Work out per-slot progress, each slot's latest error, and whether the service converged or cannot. Pure. */
export function progressOf(service: Service, tasks: Task[]): Progress {
  const mine = tasks.filter((t) => t.serviceId === service.id);
  const mode = service.spec.mode;
  if (mode === 'replicated-job') {
    const n = service.spec.replicas;
    const completed = mine.filter((t) => t.status.state === 'complete' && runsCurrentSpec(t, service)).length;
    const lines: ProgressLine[] = [];
    for (let i = 1; i <= n; i++) {
      lines.push({ label: `${i}/${n}`, name: `${service.spec.name}.${i}`, state: i <= completed ? 'complete' : '', done: i <= completed, failures: 0 });
    }
    return { lines, done: Math.min(completed, n), total: n };
  }
  const groups = new Map<string, Task[]>();
  const keyOf = (t: Task) => (mode === 'replicated' ? String(t.slot) : t.nodeId);
  for (const t of mine) {
    const list = groups.get(keyOf(t)) ?? [];
    list.push(t);
    groups.set(keyOf(t), list);
  }
  const keys =
    mode === 'replicated'
      ? Array.from({ length: service.spec.replicas }, (_, i) => String(i + 1))
      : [...groups].filter(([, ts]) => ts.some((t) => t.desiredState === 'running' || (mode === 'global-job' && t.status.state === 'complete'))).map(([k]) => k).sort();
  const lines = keys.map((key) => lineOf(service, key, groups.get(key) ?? []));
  const progress: Progress = { lines, done: lines.filter((l) => l.done).length, total: lines.length };
  const hopeless = mode !== 'global-job' && lines.length > 0 && lines.every((l) => l.failures >= GIVE_UP_FAILURES && l.state !== 'running');
  if (hopeless) {
    const worst = lines.find((l) => l.err) ?? lines[0];
    progress.hopeless = `service ${service.spec.name} is not converging: ${lines.length === 1 ? 'its task' : `each of its ${lines.length} tasks`} failed ${GIVE_UP_FAILURES} times or more and none is running; last error: ${worst.name}: ${worst.err ?? 'unknown'}`;
  }
  return progress;
}

function lineOf(service: Service, key: string, group: Task[]): ProgressLine {
  const mode = service.spec.mode;
  const n = service.spec.replicas;
  const label = mode === 'replicated' ? `${key}/${n}` : key.slice(0, 12);
  const name = `${service.spec.name}.${key}`;
  const newestFirst = [...group].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const current = newestFirst.find((t) => t.desiredState === 'running' || (mode === 'global-job' && t.status.state === 'complete'));
  const ofSpec = newestFirst.filter((t) => runsCurrentSpec(t, service));
  const failures = ofSpec.filter((t) => FAILED.includes(t.status.state)).length;
  if (!current) return { label, name, state: '', done: false, failures };
  const done = mode === 'global-job' ? current.status.state === 'complete' : isReady(current) && runsCurrentSpec(current, service);
  const line: ProgressLine = { label, name, state: current.status.state, done, failures };
  if (done) line.readySinceMs = Date.parse(current.status.since);
  else {
    // The current task's own trouble first (failed, or pending with a reason), else the last failure before it.
    const failedBefore = ofSpec.find((t) => FAILED.includes(t.status.state));
    const err = current.status.err || pendingTrouble(current.status) || failedBefore?.status.err || failedBefore?.status.message;
    if (err) line.err = err;
  }
  return line;
}

/** How long the service's tasks must have been up to count as stable: its update monitor, else Docker's 5 s. */
export function stableMsOf(service: Service): number {
  return service.spec.updateConfig?.monitorMs ?? DEFAULT_STABLE_MS;
}

/** When every done line will have been ready for `stableMs` (ms since the epoch). */
export function stableAt(p: Progress, stableMs: number): number {
  return Math.max(0, ...p.lines.map((l) => (l.readySinceMs ?? 0) + stableMs));
}
