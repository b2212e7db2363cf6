/**
 * Every error shoal raises on purpose, one class per failure kind, each with a
 * stable code (like undici's `UND_ERR_*`). The API maps `status` to the HTTP
 * status and sends `{ error: { code, message } }`; the CLI prints the message.
 * test/errors.test.ts checks codes are unique and documented in ERROR_CODES.
 */

/** Base of all shoal errors. */
export class ShoalError extends Error {
  /** Stable machine-readable code, e.g. `SHOAL_ERR_INVALID_ARGUMENT`. */
  readonly code: string = 'SHOAL_ERR_INTERNAL';
  /** HTTP status the API answers with. */
  readonly status: number = 500;
  /** Whether retrying the same call later may succeed. */
  readonly temporary: boolean = false;
  override name = 'ShoalError';
  constructor(message: string) {
    super(message);
  }
}

/** Bad user input: a flag, a spec field, a name. */
export class InvalidArgumentError extends ShoalError {
  override readonly code = 'SHOAL_ERR_INVALID_ARGUMENT';
  override readonly status = 400;
  override name = 'InvalidArgumentError';
}

/** The object asked for does not exist. */
export class NotFoundError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NOT_FOUND';
  override readonly status = 404;
  override name = 'NotFoundError';
}

/** The name is taken (service name, node hostname). */
export class NameConflictError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NAME_CONFLICT';
  override readonly status = 409;
  override name = 'NameConflictError';
}

/** A published port is already held by another service or another process. */
export class PortInUseError extends ShoalError {
  override readonly code = 'SHOAL_ERR_PORT_IN_USE';
  override readonly status = 409;
  override name = 'PortInUseError';
}

/** A compare-and-swap lost against a concurrent writer; retry with fresh data. */
export class ConflictError extends ShoalError {
  override readonly code = 'SHOAL_ERR_CONFLICT';
  override readonly status = 409;
  override readonly temporary = true;
  override name = 'ConflictError';
}

/** No or a wrong join token. */
export class UnauthorizedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_UNAUTHORIZED';
  override readonly status = 401;
  override name = 'UnauthorizedError';
}

/** The call needs a manager (or an initialised swarm) and this node is not one. */
export class NotManagerError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NOT_MANAGER';
  override readonly status = 503;
  override name = 'NotManagerError';
}

/** The swarm is already initialised or joined. */
export class AlreadyInSwarmError extends ShoalError {
  override readonly code = 'SHOAL_ERR_ALREADY_IN_SWARM';
  override readonly status = 409;
  override name = 'AlreadyInSwarmError';
}

/** A watch asked for history the store has compacted away; relist. */
export class CompactedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_COMPACTED';
  override readonly status = 410;
  override name = 'CompactedError';
}

/** The daemon or manager cannot be reached. */
export class UnavailableError extends ShoalError {
  override readonly code = 'SHOAL_ERR_UNAVAILABLE';
  override readonly status = 503;
  override readonly temporary = true;
  override name = 'UnavailableError';
}

/** The store file is damaged beyond the torn tail a crash may leave. */
export class CorruptStoreError extends ShoalError {
  override readonly code = 'SHOAL_ERR_CORRUPT_STORE';
  override readonly status = 500;
  override name = 'CorruptStoreError';
}

/** No overlay network has this name or id. */
export class NetworkNotFoundError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NETWORK_NOT_FOUND';
  override readonly status = 404;
  override name = 'NetworkNotFoundError';
}

/** A network's subnet overlaps another network's. */
export class NetworkOverlapError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NETWORK_OVERLAP';
  override readonly status = 409;
  override name = 'NetworkOverlapError';
}

/** A network cannot be removed while services use it or tasks hold addresses on it. */
export class NetworkInUseError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NETWORK_IN_USE';
  override readonly status = 409;
  override name = 'NetworkInUseError';
}

/** Not enough free addresses: a subnet too small for the replicas, a full VIP range, no free default subnet or VNI left. */
export class AddressPoolExhaustedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_ADDRESS_POOL_EXHAUSTED';
  override readonly status = 409;
  override name = 'AddressPoolExhaustedError';
}

/** A node has no free port left in its task port range (loopback mode). */
export class PortsExhaustedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_PORTS_EXHAUSTED';
  override readonly status = 409;
  override readonly temporary = true;
  override name = 'PortsExhaustedError';
}

/** A service did not reach its spec: its update paused or was rolled back, or every task keeps failing. */
export class NotConvergedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NOT_CONVERGED';
  override readonly status = 409;
  override name = 'NotConvergedError';
}

/** Demoting the last manager would leave the cluster without one. */
export class LastManagerError extends ShoalError {
  override readonly code = 'SHOAL_ERR_LAST_MANAGER';
  override readonly status = 409;
  override name = 'LastManagerError';
}

/** A change that needs several managers sharing a replicated store (etcd); the embedded store has one. */
export class ReplicatedStoreRequiredError extends ShoalError {
  override readonly code = 'SHOAL_ERR_REPLICATED_STORE_REQUIRED';
  override readonly status = 409;
  override name = 'ReplicatedStoreRequiredError';
}

/** Every code with what it means; the API docs and the uniqueness test read this. */
export const ERROR_CODES: Record<string, string> = {
  SHOAL_ERR_INTERNAL: 'an unexpected failure inside shoal',
  SHOAL_ERR_INVALID_ARGUMENT: 'bad user input: a flag, a spec field or a name',
  SHOAL_ERR_NOT_FOUND: 'the node, service or task does not exist',
  SHOAL_ERR_NAME_CONFLICT: 'the name is already taken',
  SHOAL_ERR_PORT_IN_USE: 'a published port is held by another service or process',
  SHOAL_ERR_CONFLICT: 'a concurrent write won; retry',
  SHOAL_ERR_UNAUTHORIZED: 'no join token or a wrong one',
  SHOAL_ERR_NOT_MANAGER: 'this node is not a swarm manager',
  SHOAL_ERR_ALREADY_IN_SWARM: 'this node is already part of a swarm',
  SHOAL_ERR_COMPACTED: 'the requested revision was compacted; list again',
  SHOAL_ERR_UNAVAILABLE: 'the daemon or manager cannot be reached',
  SHOAL_ERR_CORRUPT_STORE: 'the store files are damaged',
  SHOAL_ERR_NETWORK_NOT_FOUND: 'no network has this name or id',
  SHOAL_ERR_NETWORK_OVERLAP: "the subnet overlaps another network's subnet",
  SHOAL_ERR_NETWORK_IN_USE: 'services or tasks still use the network',
  SHOAL_ERR_ADDRESS_POOL_EXHAUSTED: 'not enough free addresses (subnet too small for the replicas, VIP range full, no free subnet or VNI)',
  SHOAL_ERR_NOT_CONVERGED: 'the service did not reach its spec: update paused or rolled back, or every task keeps failing',
  SHOAL_ERR_PORTS_EXHAUSTED: "no free port left in the node's task port range",
  SHOAL_ERR_LAST_MANAGER: 'demoting the node would leave the cluster without a manager',
  SHOAL_ERR_REPLICATED_STORE_REQUIRED: "more managers need a replicated store (etcd); this cluster keeps its state in one manager's embedded store",
};

/** All error classes, for the registry test and for rebuilding errors from API answers. */
export const ERROR_CLASSES = [
  ShoalError,
  InvalidArgumentError,
  NotFoundError,
  NameConflictError,
  PortInUseError,
  ConflictError,
  UnauthorizedError,
  NotManagerError,
  AlreadyInSwarmError,
  CompactedError,
  UnavailableError,
  CorruptStoreError,
  NetworkNotFoundError,
  NetworkOverlapError,
  NetworkInUseError,
  AddressPoolExhaustedError,
  PortsExhaustedError,
  NotConvergedError,
  LastManagerError,
  ReplicatedStoreRequiredError,
] as const;

/** Whether a retry later may succeed; asks the error, never its message. */
export function isTemporary(err: unknown): boolean {
  return err instanceof ShoalError && err.temporary;
}

/** Rebuild a typed error from an API answer's `{ code, message }`. */
export function errorFromCode(code: string, message: string): ShoalError {
  for (const Cls of ERROR_CLASSES) {
    const e = new Cls(message);
    if (e.code === code) return e;
  }
  return new ShoalError(message);
}
