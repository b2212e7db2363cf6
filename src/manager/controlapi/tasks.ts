/** `/v1/tasks`: every task, or one service's, and one task by id or unique prefix. */
import type { Router } from '../../api/router';
import { KEYS, type Service, type Task } from '../../model/types';
import type { Store } from '../../store/store';
import { findTask, listValues } from './lookup';

/** What the tasks API reads. */
export interface TasksApiDeps {
  store: Store;
  /** A service by id, name or unique id prefix; throws NotFoundError. */
  findService(idOrName: string): Promise<Service>;
}

/** The tasks resource of the control API. */
export class TasksApi {
  constructor(private readonly deps: TasksApiDeps) {}

  routes(router: Router): void {
    router
      .on('GET', '/v1/tasks', (c) => this.list(c.query.get('service') ?? undefined))
      .on('GET', '/v1/tasks/:id', (c) => findTask(this.deps.store, c.params.id));
  }

  private async list(service?: string): Promise<Task[]> {
    const tasks = await listValues<Task>(this.deps.store, KEYS.tasks);
    if (!service) return tasks;
    const svc = await this.deps.findService(service);
    return tasks.filter((t) => t.serviceId === svc.id);
  }
}
