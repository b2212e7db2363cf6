/**
 * The actions one orchestrator pass builds up. Several rules may touch the
 * same task in a pass (retire it, then settle its status, then trim it from
 * history); the plan folds them into one write per task.
 */
import type { Task } from '../../model/types';
import type { ReconcileResult } from './actions';

/** Accumulates creates, updates and deletes, at most one per task. */
export class TaskPlan {
  /** `now` as the ISO stamp written into statuses. */
  readonly at: string;
  private readonly creates: Task[] = [];
  private readonly updates = new Map<string, Task>();
  private readonly deletes = new Set<string>();
  private wake: number | undefined;

  constructor(readonly now: number) {
    this.at = new Date(now).toISOString();
  }

  /** The task as this pass will leave it. */
  current(t: Task): Task {
    return this.updates.get(t.id) ?? t;
  }

  /** Whether this pass deletes the task. */
  deleted(t: Task): boolean {
    return this.deletes.has(t.id);
  }

  /** Record a new version of a task; passing the unchanged object records nothing. */
  update(before: Task, after: Task): void {
    if (after !== this.current(before)) this.updates.set(before.id, after);
  }

  create(t: Task): void {
    this.creates.push(t);
  }

  delete(t: Task): void {
    this.updates.delete(t.id);
    this.deletes.add(t.id);
  }

  /** Ask to be called again at `ms` (a restart delay expires). */
  wakeAt(ms: number): void {
    if (this.wake === undefined || ms < this.wake) this.wake = ms;
  }

  /** Creates first, then updates, then deletes: a crash between writes leaves a spare task, never a missing one. */
  result(): ReconcileResult {
    const actions: ReconcileResult['actions'] = [];
    for (const task of this.creates) actions.push({ type: 'create', task });
    for (const task of this.updates.values()) actions.push({ type: 'update', task });
    for (const taskId of this.deletes) actions.push({ type: 'delete', taskId });
    return this.wake === undefined ? { actions } : { actions, nextWakeMs: this.wake };
  }
}
