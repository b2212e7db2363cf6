/**
 * Orchestrator results as one short line per action, so table cases can
 * state the whole expected outcome at a glance.
 */
import type { ReconcileResult } from '../../../src/manager/actions';

/** `create new-1 slot=2 node=- pending`, `update w1 desired=shutdown orphaned`, `delete h1`. */
export function summarize(r: ReconcileResult): string[] {
  return r.actions.map((a) => {
    switch (a.type) {
      case 'create':
        return `create ${a.task.id} slot=${a.task.slot} node=${a.task.nodeId || '-'} ${a.task.status.state}`;
      case 'update':
        return `update ${a.task.id} desired=${a.task.desiredState} ${a.task.status.state}`;
      case 'delete':
        return `delete ${a.taskId}`;
    }
  });
}
