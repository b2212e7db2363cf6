/**
 * How the API finds the object a user names (spec/object-ref.ts's rule) in
 * the store: NotFoundError when nothing matches.
 */
import { NotFoundError } from '../../errors';
import { KEYS, type Task } from '../../model/types';
import { findByRef, type Named } from '../../spec/object-ref';
import type { KeyValue, Store } from '../../store/store';

const TASK: Named<KeyValue<Task>> = { what: 'task', id: (kv) => kv.value.id };

/** A task by its full id or a unique prefix of it. */
export async function findTask(store: Store, idOrPrefix: string): Promise<Task> {
  const exact = await store.get<Task>(KEYS.task(idOrPrefix));
  if (exact) return exact.value;
  const hit = findByRef((await store.range<Task>(KEYS.tasks)).kvs, TASK, idOrPrefix);
  if (!hit) throw new NotFoundError(`task ${idOrPrefix} not found`);
  return hit.value;
}

/** The stored object under `prefix` that `ref` names. */
export async function findNamed<T>(store: Store, prefix: string, named: Named<T>, ref: string): Promise<KeyValue<T>> {
  const { kvs } = await store.range<T>(prefix);
  const kv = findByRef(kvs, { what: named.what, id: (k) => named.id(k.value), name: named.name && ((k) => named.name!(k.value)) }, ref);
  if (!kv) throw new NotFoundError(`${named.what} ${ref} not found`);
  return kv;
}

/** The values of every key under a prefix. */
export async function listValues<T>(store: Store, prefix: string): Promise<T[]> {
  return (await store.range<T>(prefix)).kvs.map((kv) => kv.value);
}
