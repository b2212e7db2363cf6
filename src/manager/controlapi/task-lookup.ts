import { InvalidArgumentError, NotFoundError } from '../../errors';
import { KEYS, type Task } from '../../model/types';
import type { Store } from '../../store/store';

/** Shortest id prefix accepted, so a one-letter typo does not pick a task. */
export const MIN_TASK_PREFIX = 3;

/** A task by its full id or a unique prefix of it (as Docker takes short task ids); NotFoundError when none matches. */
export async function findTask(store: Store, idOrPrefix: string): Promise<Task> {
  const exact = await store.get<Task>(KEYS.task(idOrPrefix));
  if (exact) return exact.value;
  if (idOrPrefix.length < MIN_TASK_PREFIX) throw new NotFoundError(`task ${idOrPrefix} not found`);
  const hits = (await store.range<Task>(KEYS.tasks)).kvs.filter((kv) => kv.value.id.startsWith(idOrPrefix));
  if (hits.length > 1) throw new InvalidArgumentError(`task ${idOrPrefix} is ambiguous (${hits.length} matches)`);
  if (hits.length === 0) throw new NotFoundError(`task ${idOrPrefix} not found`);
  return hits[0].value;
}
