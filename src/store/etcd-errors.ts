/**
 * etcd3's errors as shoal's: what a caller may retry (no quorum) and what it
 * may not (a refused request), and which failures prove a request never
 * reached a member, so that even a write may go to another member.
 */
import { ClientClosedError, GRPCDeadlineExceededError, GRPCUnavailableError, isRecoverableError } from 'etcd3';
import { NoQuorumError, ShoalError, StoreClosedError, StoreRequestFailedError } from '../errors';

/**
 * grpc-js's words for a call its channel refused before sending anything
 * (no subchannel ready, connection refused). grpc gives no code for "not
 * sent", so this is the one place that reads an error's text: a write may
 * only be retried on another member when it cannot have been applied.
 */
const NEVER_SENT = /No connection established|ECONNREFUSED/;

/** Whether the request certainly never reached an etcd member, so retrying it cannot apply it twice. */
export function neverSent(err: unknown): boolean {
  if (err instanceof NoQuorumError) return true; // our own member breaker refused to send it
  return err instanceof GRPCUnavailableError && NEVER_SENT.test(err.message);
}

/** Whether a read may be retried on another member: any failure of a member or the network. */
export function memberFailure(err: unknown): boolean {
  return err instanceof NoQuorumError || (err instanceof Error && isRecoverableError(err));
}

/** A shoal error for a failed etcd call; `what` names the call (`put /nodes/a`). */
export function storeError(err: unknown, what: string): ShoalError {
  if (err instanceof ShoalError) return err;
  // grpc's text can span lines (an OpenSSL error, then when it happened): one line for the operator.
  const detail = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ').trim();
  if (err instanceof ClientClosedError) return new StoreClosedError(`store is closed (${what})`);
  if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError || (err instanceof Error && isRecoverableError(err))) {
    return new NoQuorumError(`etcd cannot serve ${what} (no quorum, no leader or no member reachable): ${detail}`);
  }
  // etcd's INVALID_ARGUMENT (too many ops in a txn, a key put twice in one, a request too large) is a limit or
  // a shoal bug, not the user's input: not InvalidArgumentError's 400.
  return new StoreRequestFailedError(`etcd refused ${what}: ${detail}`);
}
