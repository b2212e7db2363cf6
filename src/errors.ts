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

/** Not enough free addresses: a subnet too small for the replicas, a full VIP range, no free default subnet or VNI left, a full task address pool. */
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

/** A netlink message or attribute from the kernel does not parse: a bad length, a missing header or a required attribute absent. */
export class NetlinkMalformedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NETLINK_MALFORMED';
  override readonly status = 500;
  override name = 'NetlinkMalformedError';
}

/** A value does not fit a netlink request: an attribute over 64 KiB, an address not of the family, a bad family name. */
export class NetlinkEncodeError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NETLINK_ENCODE';
  override readonly status = 500;
  override name = 'NetlinkEncodeError';
}

/** The kernel answered a netlink request with an errno; net/genl/netlink-error.ts's NetlinkError adds the errno. */
export class NetlinkRequestError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NETLINK_REQUEST_FAILED';
  override readonly status = 500;
  override name = 'NetlinkRequestError';
}

/** A dump the kernel flagged NLM_F_DUMP_INTR: the table changed under it; dumping again will do. */
export class DumpInterruptedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NETLINK_DUMP_INTERRUPTED';
  override readonly status = 503;
  override readonly temporary = true;
  override name = 'DumpInterruptedError';
}

/** A generic netlink family (IPVS) is not registered in this kernel; net/genl/ctrl-family.ts's FamilyNotFoundError names it. */
export class NetlinkFamilyMissingError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NETLINK_FAMILY_NOT_FOUND';
  override readonly status = 501;
  override name = 'NetlinkFamilyMissingError';
}

/** This host cannot run the feature at all (the netlink codec on a big-endian host). */
export class UnsupportedPlatformError extends ShoalError {
  override readonly code = 'SHOAL_ERR_UNSUPPORTED_PLATFORM';
  override readonly status = 501;
  override name = 'UnsupportedPlatformError';
}

/** An external command (`ip`, `bridge`, `nft`, one run inside a lab namespace) failed, could not start or hung. */
export class CommandFailedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_COMMAND_FAILED';
  override readonly status = 500;
  override name = 'CommandFailedError';
}

/** An external command succeeded but printed something shoal cannot read (`nft -j list` without JSON). */
export class CommandOutputMalformedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_COMMAND_OUTPUT_MALFORMED';
  override readonly status = 500;
  override name = 'CommandOutputMalformedError';
}

/** A network lab was used after destroy(). */
export class LabDestroyedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_LAB_DESTROYED';
  override readonly status = 500;
  override name = 'LabDestroyedError';
}

/** Waiting for a daemon, a node or a lab to come up took longer than allowed. */
export class WaitTimeoutError extends ShoalError {
  override readonly code = 'SHOAL_ERR_WAIT_TIMEOUT';
  override readonly status = 504;
  override readonly temporary = true;
  override name = 'WaitTimeoutError';
}

/** A daemon that `shoal up` started exited before it came up. */
export class DaemonExitedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_DAEMON_EXITED';
  override readonly status = 500;
  override name = 'DaemonExitedError';
}

/** Another shoal daemon already serves this control socket. */
export class DaemonRunningError extends ShoalError {
  override readonly code = 'SHOAL_ERR_DAEMON_RUNNING';
  override readonly status = 409;
  override name = 'DaemonRunningError';
}

/** A daemon server (API, metrics, gossip) could not listen on its address. */
export class ListenError extends ShoalError {
  override readonly code = 'SHOAL_ERR_LISTEN_FAILED';
  override readonly status = 500;
  override name = 'ListenError';
}

/** The call needs this node to be in a swarm and it has not joined one. */
export class NotInSwarmError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NOT_IN_SWARM';
  override readonly status = 409;
  override name = 'NotInSwarmError';
}

/** Setting up an overlay network's VXLAN device or a task's attachment to it failed on this node. */
export class NetworkSetupError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NETWORK_SETUP_FAILED';
  override readonly status = 500;
  override name = 'NetworkSetupError';
}

/** A task needs an overlay network this node has not set up (yet). */
export class NetworkNotReadyError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NETWORK_NOT_READY';
  override readonly status = 503;
  override readonly temporary = true;
  override name = 'NetworkNotReadyError';
}

/** The manager has not (yet) given the task or this node an address on the network. */
export class AddressNotAllocatedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_ADDRESS_NOT_ALLOCATED';
  override readonly status = 409;
  override readonly temporary = true;
  override name = 'AddressNotAllocatedError';
}

/** The manager could not reach the node that holds a task's log. */
export class NodeUnreachableError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NODE_UNREACHABLE';
  override readonly status = 502;
  override readonly temporary = true;
  override name = 'NodeUnreachableError';
}

/** The node that holds a task's log answered with an error status. */
export class NodeRequestFailedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_NODE_REQUEST_FAILED';
  override readonly status = 502;
  override name = 'NodeRequestFailedError';
}

/** A log stream from a node broke before the node ended it. */
export class LogStreamBrokenError extends ShoalError {
  override readonly code = 'SHOAL_ERR_LOG_STREAM_BROKEN';
  override readonly status = 502;
  override readonly temporary = true;
  override name = 'LogStreamBrokenError';
}

/** The store was closed (the daemon is stopping); no more reads, writes or watches. */
export class StoreClosedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_STORE_CLOSED';
  override readonly status = 503;
  override name = 'StoreClosedError';
}

/** Persisting a store write failed; the store refuses writes until the daemon restarts and replays its files. */
export class StoreWriteFailedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_STORE_WRITE_FAILED';
  override readonly status = 500;
  override name = 'StoreWriteFailedError';
}

/** A write-ahead-log segment was appended to after it was closed. */
export class WalSegmentClosedError extends ShoalError {
  override readonly code = 'SHOAL_ERR_WAL_SEGMENT_CLOSED';
  override readonly status = 500;
  override name = 'WalSegmentClosedError';
}

/** The store has no cluster object although the swarm is initialised. */
export class ClusterMissingError extends ShoalError {
  override readonly code = 'SHOAL_ERR_CLUSTER_MISSING';
  override readonly status = 500;
  override name = 'ClusterMissingError';
}

/** The in-tree fake IPVS kernel was misused by a test or produced an incomplete answer. */
export class FakeIpvsError extends ShoalError {
  override readonly code = 'SHOAL_ERR_FAKE_IPVS';
  override readonly status = 500;
  override name = 'FakeIpvsError';
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
  SHOAL_ERR_ADDRESS_POOL_EXHAUSTED: 'not enough free addresses (subnet too small for the replicas, VIP range full, no free subnet or VNI, task address pool full)',
  SHOAL_ERR_NOT_CONVERGED: 'the service did not reach its spec: update paused or rolled back, or every task keeps failing',
  SHOAL_ERR_PORTS_EXHAUSTED: "no free port left in the node's task port range",
  SHOAL_ERR_LAST_MANAGER: 'demoting the node would leave the cluster without a manager',
  SHOAL_ERR_REPLICATED_STORE_REQUIRED: "more managers need a replicated store (etcd); this cluster keeps its state in one manager's embedded store",
  SHOAL_ERR_NETLINK_MALFORMED: 'a netlink message or attribute from the kernel does not parse',
  SHOAL_ERR_NETLINK_ENCODE: 'a value does not fit a netlink request (attribute too long, address not of the family, bad family name)',
  SHOAL_ERR_NETLINK_REQUEST_FAILED: 'the kernel answered a netlink request with an errno',
  SHOAL_ERR_NETLINK_DUMP_INTERRUPTED: 'the kernel table changed during a netlink dump; dump again',
  SHOAL_ERR_NETLINK_FAMILY_NOT_FOUND: 'a generic netlink family (IPVS) is not registered in this kernel',
  SHOAL_ERR_UNSUPPORTED_PLATFORM: 'this host cannot run the feature (the netlink codec needs a little-endian host)',
  SHOAL_ERR_COMMAND_FAILED: 'an external command (ip, bridge, nft) failed, could not start or hung',
  SHOAL_ERR_COMMAND_OUTPUT_MALFORMED: 'an external command printed output shoal cannot read',
  SHOAL_ERR_LAB_DESTROYED: 'the network lab was already destroyed',
  SHOAL_ERR_WAIT_TIMEOUT: 'a daemon, node or lab did not come up in time',
  SHOAL_ERR_DAEMON_EXITED: 'a daemon started by shoal up exited while starting',
  SHOAL_ERR_DAEMON_RUNNING: 'another shoal daemon already uses the control socket',
  SHOAL_ERR_LISTEN_FAILED: 'a daemon server could not listen on its address',
  SHOAL_ERR_NOT_IN_SWARM: 'this node has not joined a swarm',
  SHOAL_ERR_NETWORK_SETUP_FAILED: "setting up an overlay network's VXLAN device or a task's attachment failed",
  SHOAL_ERR_NETWORK_NOT_READY: 'the network is not set up on this node (yet)',
  SHOAL_ERR_ADDRESS_NOT_ALLOCATED: 'the task or node has no address on the network (yet)',
  SHOAL_ERR_NODE_UNREACHABLE: 'the node holding the task log cannot be reached',
  SHOAL_ERR_NODE_REQUEST_FAILED: 'the node holding the task log answered with an error',
  SHOAL_ERR_LOG_STREAM_BROKEN: 'a log stream from a node broke before it ended',
  SHOAL_ERR_STORE_CLOSED: 'the store is closed (the daemon is stopping)',
  SHOAL_ERR_STORE_WRITE_FAILED: 'a store write could not be persisted; restart to recover',
  SHOAL_ERR_WAL_SEGMENT_CLOSED: 'a write-ahead-log segment was written after it was closed',
  SHOAL_ERR_CLUSTER_MISSING: 'the store has no cluster object',
  SHOAL_ERR_FAKE_IPVS: 'the fake IPVS kernel (tests only) was misused or answered incompletely',
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
  NetlinkMalformedError,
  NetlinkEncodeError,
  NetlinkRequestError,
  DumpInterruptedError,
  NetlinkFamilyMissingError,
  UnsupportedPlatformError,
  CommandFailedError,
  CommandOutputMalformedError,
  LabDestroyedError,
  WaitTimeoutError,
  DaemonExitedError,
  DaemonRunningError,
  ListenError,
  NotInSwarmError,
  NetworkSetupError,
  NetworkNotReadyError,
  AddressNotAllocatedError,
  NodeUnreachableError,
  NodeRequestFailedError,
  LogStreamBrokenError,
  StoreClosedError,
  StoreWriteFailedError,
  WalSegmentClosedError,
  ClusterMissingError,
  FakeIpvsError,
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
  // A code this build does not know (a newer peer's): no class fits, so it stays internal with the peer's message.
  return internalError(message);
}

/** `err` as a ShoalError for an API answer: shoal's own errors keep their code, anything else is SHOAL_ERR_INTERNAL. */
export function asShoalError(err: unknown): ShoalError {
  return err instanceof ShoalError ? err : internalError((err as Error).message);
}

/**
 * The one place that builds the base class: a failure no class describes
 * because nobody raised it on purpose (a bug, a Node error, an unknown remote
 * code). test/errors.test.ts allows constructing the base class on this line
 * (marked below) and nowhere else.
 */
function internalError(message: string): ShoalError {
  return new ShoalError(message); // errors-registry: the only INTERNAL construction
}
