/**
 * `POST /v1/dispatcher/payloads { nodeId, taskId }`: the secrets and configs
 * of one task, decrypted, for the node it is assigned to and only while it
 * is to run there. This is the only way secret data leaves the managers: the
 * watch never carries /secrets/ or /configs/ (controlapi/watch.ts).
 */
import type { TaskPayloadsRequest, TaskPayloadsResponse } from '../../api/contract';
import { ForbiddenError, InvalidArgumentError, NotFoundError } from '../../errors';
import { isTerminal, KEYS, stateRank, type Config, type Node, type PayloadReference, type Secret, type Task } from '../../model/types';
import type { Store } from '../../store/store';
import type { SecretsKeyring, SharedKey } from '../secrets/keyring';
import { unseal } from '../secrets/sealing';

/** What answering a node's payload request reads. */
export interface TaskPayloadsDeps {
  store: Store;
  keyring: SecretsKeyring;
}

/** Hands each node the data of its own tasks' secrets and configs. */
export class TaskPayloads {
  constructor(private readonly deps: TaskPayloadsDeps) {}

  /** The payloads of `taskId`, if it is assigned to `nodeId` and not over; NotFoundError otherwise (another node's task looks absent). */
  async forTask(body: unknown): Promise<TaskPayloadsResponse> {
    const req = body as Partial<TaskPayloadsRequest> | undefined;
    if (!req || typeof req.nodeId !== 'string' || typeof req.taskId !== 'string') throw new InvalidArgumentError('payloads need a nodeId and a taskId');
    const kv = await this.deps.store.get<Task>(KEYS.task(req.taskId));
    const task = kv?.value;
    if (!task || !task.nodeId || task.nodeId !== req.nodeId) throw new NotFoundError(`task ${req.taskId} is not assigned to this node`);
    if (isTerminal(task.status.state) || stateRank(task.desiredState) > stateRank('running')) {
      throw new InvalidArgumentError(`task ${req.taskId} is not to run any more`);
    }
    const secrets = await Promise.all((task.spec.secrets ?? []).map((r) => this.secret(r)));
    const configs = await Promise.all((task.spec.configs ?? []).map((r) => this.config(r)));
    return { secrets, configs };
  }

  /**
   * `POST /v1/dispatcher/secrets-key { nodeId }`: the data key for a node
   * promoted to manager (on record as one) that starts its manager part; any
   * other node is refused. The nodeId is the caller certificate's
   * (DispatcherApi), so a node can ask only for itself.
   */
  async keyForManager(body: unknown): Promise<SharedKey> {
    const nodeId = (body as { nodeId?: unknown } | undefined)?.nodeId;
    if (typeof nodeId !== 'string') throw new InvalidArgumentError('secrets-key needs a nodeId');
    const kv = await this.deps.store.get<Node>(KEYS.node(nodeId));
    if (kv?.value.role !== 'manager') throw new ForbiddenError('only a node on record as a manager gets the secrets key');
    return this.deps.keyring.share();
  }

  private async secret(ref: PayloadReference): Promise<PayloadReference & { data: string }> {
    const key = this.deps.keyring.dataKey();
    const kv = await this.deps.store.get<Secret>(KEYS.secret(ref.id));
    if (!kv) throw new NotFoundError(`secret ${ref.name} not found`);
    return { ...ref, data: unseal(key, ref.id, kv.value.data).toString('base64') };
  }

  private async config(ref: PayloadReference): Promise<PayloadReference & { data: string }> {
    const kv = await this.deps.store.get<Config>(KEYS.config(ref.id));
    if (!kv) throw new NotFoundError(`config ${ref.name} not found`);
    return { ...ref, data: kv.value.data };
  }
}
