/**
 * A service spec's secret and config references against the store: each
 * must name an existing object (by id, name or unique id prefix), and is
 * stored with its id and name, as Docker keeps SecretID and SecretName. A
 * missing one refuses the whole write, so nothing is created.
 */
import { NotFoundError } from '../../errors';
import type { PayloadReference, ServiceSpec } from '../../model/types';
import { findByRef } from '../../spec/object-ref';
import type { PayloadKind } from '../../spec/payload';
import type { Store } from '../../store/store';
import { listValues } from './lookup';
import { payloadNamed, payloadPrefix } from './payloads';

/** `spec` with every reference resolved to its object's id and name; NotFoundError naming the first missing one. */
export async function resolvePayloadRefs(store: Store, spec: ServiceSpec): Promise<ServiceSpec> {
  const secrets = await resolveKind(store, 'secret', spec.task.secrets);
  const configs = await resolveKind(store, 'config', spec.task.configs);
  const task = { ...spec.task };
  if (secrets) task.secrets = secrets;
  if (configs) task.configs = configs;
  return { ...spec, task };
}

async function resolveKind(store: Store, kind: PayloadKind, refs: PayloadReference[] | undefined): Promise<PayloadReference[] | undefined> {
  if (!refs?.length) return refs;
  const all = await listValues<{ id: string; name: string }>(store, payloadPrefix(kind));
  const named = payloadNamed(kind);
  return refs.map((r) => {
    // A stored spec carries the id: the object must still be that one; a new reference names it.
    const hit = r.id ? all.find((x) => x.id === r.id) : findByRef(all, named, r.name);
    if (!hit) throw new NotFoundError(`${kind} ${r.name} not found`);
    return { ...r, id: hit.id, name: hit.name };
  });
}
