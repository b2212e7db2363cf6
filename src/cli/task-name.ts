import type { Task } from '../model/types';

/** Length of the short ids tables show, as Docker's. */
export const SHORT_ID_LENGTH = 12;

/** An id as tables show it unless `--no-trunc`. */
export function shortId(id: string): string {
  return id.slice(0, SHORT_ID_LENGTH);
}

/** Name `service ps` and `service logs` show: web.1, or web.<node id> for global tasks. */
export function taskName(t: Pick<Task, 'serviceName' | 'slot' | 'nodeId'>): string {
  return t.slot > 0 ? `${t.serviceName}.${t.slot}` : `${t.serviceName}.${t.nodeId || '?'}`;
}
