/**
 * When a new task counts as up: the moment an update may move on and the
 * moment its monitor window opens. Docker reports a task with a health check
 * as running only once it is healthy; shoal keeps `running` and `health`
 * apart, so both are read here.
 */
import type { Task } from '../../../model/types';

/** Running, and healthy if its spec has a health check: the task serves traffic. */
export function isReady(task: Task): boolean {
  return task.status.state === 'running' && (!task.spec.healthcheck || task.status.health === 'healthy');
}
