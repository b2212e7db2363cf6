/**
 * The vocabulary between the manager's pure cores (scheduler, orchestrators)
 * and the one shell that writes to the store. Cores decide; the shell applies
 * these actions in order, each task write guarded by compare-and-swap on the
 * revision it read, and reruns the core on conflict.
 */
import type { Task } from '../../model/types';

/**
 * One write a core asks for. `update` carries the whole new task, not a patch,
 * so the shell never merges: it puts the object if the key's revision is still
 * the one the core saw.
 */
export type TaskAction =
  | { type: 'create'; task: Task }
  | { type: 'update'; task: Task }
  | { type: 'delete'; taskId: string };

/** Source of new object ids, injected so tests get deterministic ids. */
export interface IdDeps {
  newId(): string;
}

/** What an orchestrator pass returns. */
export interface ReconcileResult {
  /** Creates first, then updates, then deletes: a crash between writes never loses a slot. */
  actions: TaskAction[];
  /** Earliest time (ms since epoch) a delayed restart becomes due; the shell arms a timer for it. */
  nextWakeMs?: number;
}
