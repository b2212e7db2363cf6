/**
 * `/v1/secrets` and `/v1/configs`: create, list, inspect, remove. A secret's
 * data is sealed (secrets/sealing.ts) before it reaches the store and no
 * answer ever carries it; a config is stored as given and inspect shows it,
 * as Docker does. Neither is watchable (controlapi/watch.ts): nodes get the
 * ones their tasks use from the dispatcher (dispatcher/task-payloads.ts).
 *
 * Store layout: /secrets/<id> Secret, /configs/<id> Config, and
 * /names/secrets/<name>, /names/configs/<name> reserving names
 * (case-insensitive, as swarmkit's name index).
 */
import type { Logger } from 'pino';
import type { Router } from '../../api/router';
import { ConflictError, NameConflictError, PayloadInUseError } from '../../errors';
import { KEYS, type Config, type Secret, type Service } from '../../model/types';
import type { KeyValue, Store } from '../../store/store';
import type { Named } from '../../spec/object-ref';
import { validatePayloadCreate, type PayloadKind } from '../../spec/payload';
import type { SecretsKeyring } from '../secrets/keyring';
import { seal } from '../secrets/sealing';
import { findNamed, listValues } from './lookup';

/** A secret as the API shows it: everything but its data. */
export type SecretView = Omit<Secret, 'data'>;

/** What the payload APIs read and write. */
export interface PayloadsApiDeps {
  store: Store;
  logger: Logger;
  now: () => number;
  newId: () => string;
  keyring: SecretsKeyring;
}

type Stored = Secret | Config;

/** Key that reserves a secret's or config's name. */
export const payloadNameKey = (kind: PayloadKind, name: string) => `/names/${kind}s/${name.toLowerCase()}`;
/** Where objects of the kind live. */
export const payloadPrefix = (kind: PayloadKind) => (kind === 'secret' ? KEYS.secrets : KEYS.configs);

/** How a lookup names an object of the kind. */
export function payloadNamed(kind: PayloadKind): Named<{ id: string; name: string }> {
  return { what: kind, id: (x) => x.id, name: (x) => x.name };
}

/** One of the two resources; `kind` picks the rules (sealed or not, shown or not). */
export class PayloadsApi {
  private readonly base: string;

  constructor(
    private readonly deps: PayloadsApiDeps,
    private readonly kind: PayloadKind,
  ) {
    this.base = `/v1/${kind}s`;
  }

  routes(router: Router): void {
    router
      .on('GET', this.base, () => this.list())
      .on('POST', this.base, (c) => this.create(c.body))
      .on('GET', `${this.base}/:id`, (c) => this.find(c.params.id).then((kv) => this.view(kv.value)))
      .on('DELETE', `${this.base}/:id`, (c) => this.remove(c.params.id));
  }

  private view(x: Stored): SecretView | Config {
    if (this.kind === 'config') return x as Config;
    const { data: _sealed, ...rest } = x as Secret;
    return rest;
  }

  /** Secrets need the data key even to list: a locked manager answers SHOAL_ERR_SWARM_LOCKED, as Docker's locked managers do. */
  private checkUnlocked(): void {
    if (this.kind === 'secret' && this.deps.keyring.locked()) this.deps.keyring.dataKey();
  }

  private async list(): Promise<(SecretView | Config)[]> {
    this.checkUnlocked();
    const all = await listValues<Stored>(this.deps.store, payloadPrefix(this.kind));
    return all.map((x) => this.view(x));
  }

  private async find(ref: string): Promise<KeyValue<Stored>> {
    this.checkUnlocked();
    return findNamed<Stored>(this.deps.store, payloadPrefix(this.kind), payloadNamed(this.kind), ref);
  }

  private async create(body: unknown): Promise<SecretView | Config> {
    this.checkUnlocked();
    const { store, now, newId, keyring } = this.deps;
    const req = validatePayloadCreate(body, this.kind);
    const nameKey = payloadNameKey(this.kind, req.name);
    if (await store.get(nameKey)) throw new NameConflictError(`${this.kind} ${req.name} already exists`);
    const id = newId();
    const iso = new Date(now()).toISOString();
    const meta = { id, name: req.name, labels: req.labels, createdAt: iso, updatedAt: iso };
    const obj: Stored = this.kind === 'secret' ? { ...meta, data: seal(keyring.dataKey(), id, req.data) } : { ...meta, data: req.data.toString('base64') };
    const key = this.kind === 'secret' ? KEYS.secret(id) : KEYS.config(id);
    const r = await store.txn({
      compare: [{ key: nameKey, modRevision: 0 }],
      success: [
        { type: 'put', key: nameKey, value: id },
        { type: 'put', key, value: obj },
      ],
    });
    if (!r.succeeded) throw new NameConflictError(`${this.kind} ${req.name} already exists`);
    // The name and id only: the data never goes to a log.
    this.deps.logger.info({ [this.kind]: req.name, id }, `${this.kind} created`);
    return this.view(obj);
  }

  /** Refused while a service's spec references it (Docker's rule; tasks still running keep their files until they stop). */
  private async remove(ref: string): Promise<void> {
    const kv = await this.find(ref);
    const users = await this.usedBy(kv.value.id);
    if (users.length > 0) {
      throw new PayloadInUseError(`${this.kind} ${kv.value.name} is in use by service${users.length === 1 ? '' : 's'} ${users.join(', ')}`);
    }
    const r = await this.deps.store.txn({
      compare: [{ key: kv.key, modRevision: kv.modRevision }],
      success: [
        { type: 'delete', key: kv.key },
        { type: 'delete', key: payloadNameKey(this.kind, kv.value.name) },
      ],
    });
    if (!r.succeeded) throw new ConflictError(`${this.kind} ${kv.value.name} changed meanwhile; try again`);
    this.deps.logger.info({ [this.kind]: kv.value.name, id: kv.value.id }, `${this.kind} removed`);
  }

  private async usedBy(id: string): Promise<string[]> {
    const services = await listValues<Service>(this.deps.store, KEYS.services);
    const field = this.kind === 'secret' ? 'secrets' : 'configs';
    return services
      .filter((s) => s.spec.task[field]?.some((r) => r.id === id))
      .map((s) => s.spec.name)
      .sort();
  }
}
