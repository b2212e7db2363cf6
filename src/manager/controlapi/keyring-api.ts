/**
 * The data key's routes: `POST /v1/swarm/unlock { key }` (`shoal swarm
 * unlock`), `GET /v1/swarm/unlock-key` (`shoal swarm unlock-key`), and `GET
 * /v1/swarm/secrets-key`, which hands the data key to a manager joining on
 * the shared store. All need the manager role: the local socket or the
 * manager token (the worker token never reaches /v1/swarm/, manager-role.ts).
 */
import type { RequestContext, Router } from '../../api/router';
import { InvalidArgumentError, UnauthorizedError } from '../../errors';
import type { NodeRole } from '../../model/types';
import type { SecretsKeyring, SharedKey } from '../secrets/keyring';

/** What the keyring routes need. */
export interface KeyringApiDeps {
  keyring: SecretsKeyring;
  callerRole(c: RequestContext): NodeRole;
}

/** The unlock and key-sharing resource of the control API. */
export class KeyringApi {
  constructor(private readonly deps: KeyringApiDeps) {}

  routes(router: Router): void {
    router
      .on('POST', '/v1/swarm/unlock', (c) => this.unlock(c))
      .on('GET', '/v1/swarm/unlock-key', (c) => {
        this.managerOnly(c);
        return { unlockKey: this.deps.keyring.unlockKey() };
      })
      .on('GET', '/v1/swarm/secrets-key', (c): SharedKey => {
        this.managerOnly(c);
        return this.deps.keyring.share();
      });
  }

  private async unlock(c: RequestContext): Promise<Record<string, never>> {
    this.managerOnly(c);
    const key = (c.body as { key?: unknown } | undefined)?.key;
    if (typeof key !== 'string' || !key.trim()) throw new InvalidArgumentError('swarm unlock needs the unlock key');
    await this.deps.keyring.unlockWith(key);
    return {};
  }

  private managerOnly(c: RequestContext): void {
    if (this.deps.callerRole(c) !== 'manager') throw new UnauthorizedError('only a manager may handle the swarm key');
  }
}
