/**
 * The fault handling etcd3 runs every call through, replaced: etcd3's default
 * retries any "recoverable" failure three times, which re-sends a write whose
 * answer was lost (a member killed after committing it) and applies it twice.
 * Here nothing is retried inside etcd3 (EtcdStore retries what is safe), and
 * a per-member breaker stops sending to a member that keeps failing, so calls
 * go to the others.
 */
import { isRecoverableError, type IOptions } from 'etcd3';
import { NoQuorumError } from '../errors';

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type GlobalPolicy = NonNullable<FaultHandling['global']>;
type HostPolicy = ReturnType<NonNullable<FaultHandling['host']>>;
type PolicyContext = Parameters<Parameters<GlobalPolicy['execute']>[0]>[0];

/** When a member is taken out of rotation and for how long. */
export interface MemberBreakerOptions {
  /** Consecutive member failures (unavailable, timed out) before the breaker opens. */
  failuresToOpen: number;
  /** How long an open breaker refuses calls before letting one through again. */
  openMs: number;
  now: () => number;
}

/** A signal nothing aborts: the context cockatiel's policies would pass. */
const NEVER_ABORTED = new AbortController().signal;

/** cockatiel's event shape; etcd3 never listens, so nothing is ever emitted. */
function silentEvent(): () => { dispose(): void } {
  return () => ({ dispose: () => undefined });
}

/** Runs every call once: no retries inside etcd3. */
export function passThroughPolicy(): GlobalPolicy {
  const policy = {
    onSuccess: silentEvent(),
    onFailure: silentEvent(),
    execute: async <T>(fn: (context: PolicyContext) => PromiseLike<T> | T): Promise<T> => fn({ signal: NEVER_ABORTED }),
  };
  return policy as unknown as GlobalPolicy;
}

/**
 * One member's breaker: after `failuresToOpen` consecutive member failures it
 * refuses calls (NoQuorumError, which etcd3's pool takes as "not called" and
 * tries the next member) for `openMs`; then one call goes through, and one
 * more failure opens it again.
 */
export function memberBreaker(host: string, options: MemberBreakerOptions): HostPolicy {
  let failures = 0;
  let openUntil = 0;
  const policy = {
    onSuccess: silentEvent(),
    onFailure: silentEvent(),
    execute: async <T>(fn: (context: PolicyContext) => PromiseLike<T> | T): Promise<T> => {
      if (options.now() < openUntil) throw new NoQuorumError(`etcd member ${host} is skipped after ${failures} failures in a row`);
      try {
        const result = await fn({ signal: NEVER_ABORTED });
        failures = 0;
        return result;
      } catch (err) {
        if (err instanceof Error && isRecoverableError(err) && ++failures >= options.failuresToOpen) openUntil = options.now() + options.openMs;
        throw err;
      }
    },
  };
  return policy as unknown as HostPolicy;
}
