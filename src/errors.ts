/**
 * Every error shoal raises on purpose, one class per failure kind, each with a
 * stable code (like undici's `UND_ERR_*`). The API maps `status` to the HTTP
 * status and sends `{ error: { code, message } }`; the CLI prints the message.
 * Each kind is one errorKind() declaration (code, status, retry, meaning);
 * test/errors.test.ts checks codes are unique and documented.
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

/** What a kind of failure is: its code, HTTP status, whether a retry may help, and what it means (ERROR_CODES, the README's table). */
interface ErrorKind {
  code: string;
  status: number;
  temporary?: boolean;
  meaning: string;
}

/** Every kind in declaration order, the base first. */
const KINDS: { Class: typeof ShoalError; meaning: string }[] = [{ Class: ShoalError, meaning: 'an unexpected failure inside shoal' }];

/** A class of its own for one kind of failure, extending `Base` where the kind is a special case of another. */
function errorKind(name: string, kind: ErrorKind, Base: typeof ShoalError = ShoalError) {
  const Class = class extends Base {
    override readonly code = kind.code;
    override readonly status = kind.status;
    override readonly temporary = kind.temporary ?? false;
    override name = name;
  };
  Object.defineProperty(Class, 'name', { value: name });
  KINDS.push({ Class, meaning: kind.meaning });
  return Class;
}

/** Bad user input: a flag, a spec field, a name. */
export const InvalidArgumentError = errorKind('InvalidArgumentError', { code: 'SHOAL_ERR_INVALID_ARGUMENT', status: 400, meaning: 'bad user input: a flag, a spec field or a name' });
export type InvalidArgumentError = InstanceType<typeof InvalidArgumentError>;

/** The object asked for does not exist. */
export const NotFoundError = errorKind('NotFoundError', { code: 'SHOAL_ERR_NOT_FOUND', status: 404, meaning: 'the node, service or task does not exist' });
export type NotFoundError = InstanceType<typeof NotFoundError>;

/** The name is taken (service name, node hostname). */
export const NameConflictError = errorKind('NameConflictError', { code: 'SHOAL_ERR_NAME_CONFLICT', status: 409, meaning: 'the name is already taken' });
export type NameConflictError = InstanceType<typeof NameConflictError>;

/** A published port is already held by another service or another process. */
export const PortInUseError = errorKind('PortInUseError', { code: 'SHOAL_ERR_PORT_IN_USE', status: 409, meaning: 'a published port is held by another service or process' });
export type PortInUseError = InstanceType<typeof PortInUseError>;

/** A compare-and-swap lost against a concurrent writer; retry with fresh data. */
export const ConflictError = errorKind('ConflictError', { code: 'SHOAL_ERR_CONFLICT', status: 409, temporary: true, meaning: 'a concurrent write won; retry' });
export type ConflictError = InstanceType<typeof ConflictError>;

/** No or a wrong join token. */
export const UnauthorizedError = errorKind('UnauthorizedError', { code: 'SHOAL_ERR_UNAUTHORIZED', status: 401, meaning: 'no join token or a wrong one' });
export type UnauthorizedError = InstanceType<typeof UnauthorizedError>;

/** The call needs a manager (or an initialised swarm) and this node is not one. */
export const NotManagerError = errorKind('NotManagerError', { code: 'SHOAL_ERR_NOT_MANAGER', status: 503, meaning: 'this node is not a swarm manager' });
export type NotManagerError = InstanceType<typeof NotManagerError>;

/** The swarm is already initialised or joined. */
export const AlreadyInSwarmError = errorKind('AlreadyInSwarmError', { code: 'SHOAL_ERR_ALREADY_IN_SWARM', status: 409, meaning: 'this node is already part of a swarm' });
export type AlreadyInSwarmError = InstanceType<typeof AlreadyInSwarmError>;

/** A watch asked for history the store has compacted away; relist. */
export const CompactedError = errorKind('CompactedError', { code: 'SHOAL_ERR_COMPACTED', status: 410, meaning: 'the requested revision was compacted; list again' });
export type CompactedError = InstanceType<typeof CompactedError>;

/** The daemon or manager cannot be reached. */
export const UnavailableError = errorKind('UnavailableError', { code: 'SHOAL_ERR_UNAVAILABLE', status: 503, temporary: true, meaning: 'the daemon or manager cannot be reached' });
export type UnavailableError = InstanceType<typeof UnavailableError>;

/** The store file is damaged beyond the torn tail a crash may leave. */
export const CorruptStoreError = errorKind('CorruptStoreError', { code: 'SHOAL_ERR_CORRUPT_STORE', status: 500, meaning: 'the store files are damaged' });
export type CorruptStoreError = InstanceType<typeof CorruptStoreError>;

/** No overlay network has this name or id. */
export const NetworkNotFoundError = errorKind('NetworkNotFoundError', { code: 'SHOAL_ERR_NETWORK_NOT_FOUND', status: 404, meaning: 'no network has this name or id' });
export type NetworkNotFoundError = InstanceType<typeof NetworkNotFoundError>;

/** A network's subnet overlaps another network's. */
export const NetworkOverlapError = errorKind('NetworkOverlapError', { code: 'SHOAL_ERR_NETWORK_OVERLAP', status: 409, meaning: "the subnet overlaps another network's subnet" });
export type NetworkOverlapError = InstanceType<typeof NetworkOverlapError>;

/** A network cannot be removed while services use it or tasks hold addresses on it. */
export const NetworkInUseError = errorKind('NetworkInUseError', { code: 'SHOAL_ERR_NETWORK_IN_USE', status: 409, meaning: 'services or tasks still use the network' });
export type NetworkInUseError = InstanceType<typeof NetworkInUseError>;

/** Not enough free addresses: a subnet too small for the replicas, a full VIP range, no free default subnet or VNI left, a full task address pool. */
export const AddressPoolExhaustedError = errorKind('AddressPoolExhaustedError', { code: 'SHOAL_ERR_ADDRESS_POOL_EXHAUSTED', status: 409, meaning: 'not enough free addresses (subnet too small for the replicas, VIP range full, no free subnet or VNI, task address pool full)' });
export type AddressPoolExhaustedError = InstanceType<typeof AddressPoolExhaustedError>;

/** A node has no free port left in its task port range (loopback mode). */
export const PortsExhaustedError = errorKind('PortsExhaustedError', { code: 'SHOAL_ERR_PORTS_EXHAUSTED', status: 409, temporary: true, meaning: "no free port left in the node's task port range" });
export type PortsExhaustedError = InstanceType<typeof PortsExhaustedError>;

/** A service did not reach its spec: its update paused or was rolled back, or every task keeps failing. */
export const NotConvergedError = errorKind('NotConvergedError', { code: 'SHOAL_ERR_NOT_CONVERGED', status: 409, meaning: 'the service did not reach its spec: update paused or rolled back, or every task keeps failing' });
export type NotConvergedError = InstanceType<typeof NotConvergedError>;

/** Demoting the last manager would leave the cluster without one. */
export const LastManagerError = errorKind('LastManagerError', { code: 'SHOAL_ERR_LAST_MANAGER', status: 409, meaning: 'demoting the node would leave the cluster without a manager' });
export type LastManagerError = InstanceType<typeof LastManagerError>;

/** A change that needs several managers sharing a replicated store (etcd); the embedded store has one. */
export const ReplicatedStoreRequiredError = errorKind('ReplicatedStoreRequiredError', { code: 'SHOAL_ERR_REPLICATED_STORE_REQUIRED', status: 409, meaning: "more managers need a replicated store (etcd); this cluster keeps its state in one manager's embedded store" });
export type ReplicatedStoreRequiredError = InstanceType<typeof ReplicatedStoreRequiredError>;

/** Managers on etcd: a running node does not take or give up the manager role yet. */

/** A netlink message or attribute from the kernel does not parse: a bad length, a missing header or a required attribute absent. */
export const NetlinkMalformedError = errorKind('NetlinkMalformedError', { code: 'SHOAL_ERR_NETLINK_MALFORMED', status: 500, meaning: 'a netlink message or attribute from the kernel does not parse' });
export type NetlinkMalformedError = InstanceType<typeof NetlinkMalformedError>;

/** A value does not fit a netlink request: an attribute over 64 KiB, an address not of the family, a bad family name. */
export const NetlinkEncodeError = errorKind('NetlinkEncodeError', { code: 'SHOAL_ERR_NETLINK_ENCODE', status: 500, meaning: 'a value does not fit a netlink request (attribute too long, address not of the family, bad family name)' });
export type NetlinkEncodeError = InstanceType<typeof NetlinkEncodeError>;

/** The kernel answered a netlink request with an errno; net/genl/netlink-error.ts's NetlinkError adds the errno. */
export const NetlinkRequestError = errorKind('NetlinkRequestError', { code: 'SHOAL_ERR_NETLINK_REQUEST_FAILED', status: 500, meaning: 'the kernel answered a netlink request with an errno' });
export type NetlinkRequestError = InstanceType<typeof NetlinkRequestError>;

/** A dump the kernel flagged NLM_F_DUMP_INTR: the table changed under it; dumping again will do. */
export const DumpInterruptedError = errorKind('DumpInterruptedError', { code: 'SHOAL_ERR_NETLINK_DUMP_INTERRUPTED', status: 503, temporary: true, meaning: 'the kernel table changed during a netlink dump; dump again' });
export type DumpInterruptedError = InstanceType<typeof DumpInterruptedError>;

/** A generic netlink family (IPVS) is not registered in this kernel; net/genl/ctrl-family.ts's FamilyNotFoundError names it. */
export const NetlinkFamilyMissingError = errorKind('NetlinkFamilyMissingError', { code: 'SHOAL_ERR_NETLINK_FAMILY_NOT_FOUND', status: 501, meaning: 'a generic netlink family (IPVS) is not registered in this kernel' });
export type NetlinkFamilyMissingError = InstanceType<typeof NetlinkFamilyMissingError>;

/** This host cannot run the feature at all (the netlink codec on a big-endian host). */
export const UnsupportedPlatformError = errorKind('UnsupportedPlatformError', { code: 'SHOAL_ERR_UNSUPPORTED_PLATFORM', status: 501, meaning: 'this host cannot run the feature (the netlink codec needs a little-endian host)' });
export type UnsupportedPlatformError = InstanceType<typeof UnsupportedPlatformError>;

/** An external command (`ip`, `bridge`, `nft`, one run inside a lab namespace) failed, could not start or hung. */
export const CommandFailedError = errorKind('CommandFailedError', { code: 'SHOAL_ERR_COMMAND_FAILED', status: 500, meaning: 'an external command (ip, bridge, nft) failed, could not start or hung' });
export type CommandFailedError = InstanceType<typeof CommandFailedError>;

/** An external command succeeded but printed something shoal cannot read (`nft -j list` without JSON). */
export const CommandOutputMalformedError = errorKind('CommandOutputMalformedError', { code: 'SHOAL_ERR_COMMAND_OUTPUT_MALFORMED', status: 500, meaning: 'an external command printed output shoal cannot read' });
export type CommandOutputMalformedError = InstanceType<typeof CommandOutputMalformedError>;

/** A network lab was used after destroy(). */
export const LabDestroyedError = errorKind('LabDestroyedError', { code: 'SHOAL_ERR_LAB_DESTROYED', status: 500, meaning: 'the network lab was already destroyed' });
export type LabDestroyedError = InstanceType<typeof LabDestroyedError>;

/** Several managers share the store and none leads right now (an election is under way). */
export const NoLeaderError = errorKind('NoLeaderError', { code: 'SHOAL_ERR_NO_LEADER', status: 503, temporary: true, meaning: 'no manager leads the swarm right now (an election is under way); retry' });
export type NoLeaderError = InstanceType<typeof NoLeaderError>;

/** Waiting for a daemon, a node or a lab to come up took longer than allowed. */
export const WaitTimeoutError = errorKind('WaitTimeoutError', { code: 'SHOAL_ERR_WAIT_TIMEOUT', status: 504, temporary: true, meaning: 'a daemon, node or lab did not come up in time' });
export type WaitTimeoutError = InstanceType<typeof WaitTimeoutError>;

/** A daemon that `shoal up` started exited before it came up. */
export const DaemonExitedError = errorKind('DaemonExitedError', { code: 'SHOAL_ERR_DAEMON_EXITED', status: 500, meaning: 'a daemon started by shoal up exited while starting' });
export type DaemonExitedError = InstanceType<typeof DaemonExitedError>;

/** Another shoal daemon already serves this control socket. */
export const DaemonRunningError = errorKind('DaemonRunningError', { code: 'SHOAL_ERR_DAEMON_RUNNING', status: 409, meaning: 'another shoal daemon already uses the control socket' });
export type DaemonRunningError = InstanceType<typeof DaemonRunningError>;

/** A daemon server (API, metrics, gossip) could not listen on its address. */
export const ListenError = errorKind('ListenError', { code: 'SHOAL_ERR_LISTEN_FAILED', status: 500, meaning: 'a daemon server could not listen on its address' });
export type ListenError = InstanceType<typeof ListenError>;

/** The call needs this node to be in a swarm and it has not joined one. */
export const NotInSwarmError = errorKind('NotInSwarmError', { code: 'SHOAL_ERR_NOT_IN_SWARM', status: 409, meaning: 'this node has not joined a swarm' });
export type NotInSwarmError = InstanceType<typeof NotInSwarmError>;

/** Setting up an overlay network's VXLAN device or a task's attachment to it failed on this node. */
export const NetworkSetupError = errorKind('NetworkSetupError', { code: 'SHOAL_ERR_NETWORK_SETUP_FAILED', status: 500, meaning: "setting up an overlay network's VXLAN device or a task's attachment failed" });
export type NetworkSetupError = InstanceType<typeof NetworkSetupError>;

/** A task needs an overlay network this node has not set up (yet). */
export const NetworkNotReadyError = errorKind('NetworkNotReadyError', { code: 'SHOAL_ERR_NETWORK_NOT_READY', status: 503, temporary: true, meaning: 'the network is not set up on this node (yet)' });
export type NetworkNotReadyError = InstanceType<typeof NetworkNotReadyError>;

/** The manager has not (yet) given the task or this node an address on the network. */
export const AddressNotAllocatedError = errorKind('AddressNotAllocatedError', { code: 'SHOAL_ERR_ADDRESS_NOT_ALLOCATED', status: 409, temporary: true, meaning: 'the task or node has no address on the network (yet)' });
export type AddressNotAllocatedError = InstanceType<typeof AddressNotAllocatedError>;

/** The manager could not reach the node that holds a task's log. */
export const NodeUnreachableError = errorKind('NodeUnreachableError', { code: 'SHOAL_ERR_NODE_UNREACHABLE', status: 502, temporary: true, meaning: 'the node holding the task log cannot be reached' });
export type NodeUnreachableError = InstanceType<typeof NodeUnreachableError>;

/** The node that holds a task's log answered with an error status. */
export const NodeRequestFailedError = errorKind('NodeRequestFailedError', { code: 'SHOAL_ERR_NODE_REQUEST_FAILED', status: 502, meaning: 'the node holding the task log answered with an error' });
export type NodeRequestFailedError = InstanceType<typeof NodeRequestFailedError>;

/** A log stream from a node broke before the node ended it. */
export const LogStreamBrokenError = errorKind('LogStreamBrokenError', { code: 'SHOAL_ERR_LOG_STREAM_BROKEN', status: 502, temporary: true, meaning: 'a log stream from a node broke before it ended' });
export type LogStreamBrokenError = InstanceType<typeof LogStreamBrokenError>;

/** The store was closed (the daemon is stopping); no more reads, writes or watches. */
export const StoreClosedError = errorKind('StoreClosedError', { code: 'SHOAL_ERR_STORE_CLOSED', status: 503, meaning: 'the store is closed (the daemon is stopping)' });
export type StoreClosedError = InstanceType<typeof StoreClosedError>;

/** Persisting a store write failed; the store refuses writes until the daemon restarts and replays its files. */
export const StoreWriteFailedError = errorKind('StoreWriteFailedError', { code: 'SHOAL_ERR_STORE_WRITE_FAILED', status: 500, meaning: 'a store write could not be persisted; restart to recover' });
export type StoreWriteFailedError = InstanceType<typeof StoreWriteFailedError>;

/** etcd cannot commit or answer: no quorum, no leader, or no member reachable within the request timeout. */
export const NoQuorumError = errorKind('NoQuorumError', { code: 'SHOAL_ERR_NO_QUORUM', status: 503, temporary: true, meaning: 'etcd cannot commit: no quorum, no leader or no member reachable in time' });
export type NoQuorumError = InstanceType<typeof NoQuorumError>;

/** etcd refused a store request or canceled a watch for a reason other than quorum or compaction (permissions, limits). */
export const StoreRequestFailedError = errorKind('StoreRequestFailedError', { code: 'SHOAL_ERR_STORE_REQUEST_FAILED', status: 500, meaning: 'etcd refused a store request or canceled a watch (permissions, request limits)' });
export type StoreRequestFailedError = InstanceType<typeof StoreRequestFailedError>;

/** A write-ahead-log segment was appended to after it was closed. */
export const WalSegmentClosedError = errorKind('WalSegmentClosedError', { code: 'SHOAL_ERR_WAL_SEGMENT_CLOSED', status: 500, meaning: 'a write-ahead-log segment was written after it was closed' });
export type WalSegmentClosedError = InstanceType<typeof WalSegmentClosedError>;

/** The store has no cluster object although the swarm is initialised. */
export const ClusterMissingError = errorKind('ClusterMissingError', { code: 'SHOAL_ERR_CLUSTER_MISSING', status: 500, meaning: 'the store has no cluster object' });
export type ClusterMissingError = InstanceType<typeof ClusterMissingError>;

/** The in-tree fake IPVS kernel was misused by a test or produced an incomplete answer. */
export const FakeIpvsError = errorKind('FakeIpvsError', { code: 'SHOAL_ERR_FAKE_IPVS', status: 500, meaning: 'the fake IPVS kernel (tests only) was misused or answered incompletely' });
export type FakeIpvsError = InstanceType<typeof FakeIpvsError>;

/** Secrets need the swarm's data key, and this manager's key is wrapped (autolock) until `shoal swarm unlock`. */
export const SwarmLockedError = errorKind('SwarmLockedError', { code: 'SHOAL_ERR_SWARM_LOCKED', status: 423, meaning: 'the manager is locked (autolock): run shoal swarm unlock with the unlock key' });
export type SwarmLockedError = InstanceType<typeof SwarmLockedError>;

/** `swarm unlock` was given a key that does not unwrap this manager's data key. */
export const InvalidUnlockKeyError = errorKind('InvalidUnlockKeyError', { code: 'SHOAL_ERR_INVALID_UNLOCK_KEY', status: 401, meaning: 'the unlock key does not unlock this manager' });
export type InvalidUnlockKeyError = InstanceType<typeof InvalidUnlockKeyError>;

/** A secret's ciphertext does not open with this manager's data key (another key, or tampered data). */
export const SecretKeyMismatchError = errorKind('SecretKeyMismatchError', { code: 'SHOAL_ERR_SECRET_KEY_MISMATCH', status: 500, meaning: "a secret does not decrypt with this manager's data key (another swarm's key, or damaged data)" });
export type SecretKeyMismatchError = InstanceType<typeof SecretKeyMismatchError>;

/** A secret or config cannot be removed while a service references it. */
export const PayloadInUseError = errorKind('PayloadInUseError', { code: 'SHOAL_ERR_IN_USE', status: 409, meaning: 'the secret or config is in use by a service' });
export type PayloadInUseError = InstanceType<typeof PayloadInUseError>;

/** A node could not write a task's secrets or configs (no tmpfs, a chown refused). */
export const PayloadMountError = errorKind('PayloadMountError', { code: 'SHOAL_ERR_PAYLOAD_MOUNT_FAILED', status: 500, meaning: "a node could not write a task's secrets or configs (no tmpfs, chown refused)" });
export type PayloadMountError = InstanceType<typeof PayloadMountError>;

/** A join token that is not `SWMTKN-1-<50 base36 digest>-<25 base36 secret>`. */
export const InvalidJoinTokenError = errorKind('InvalidJoinTokenError', { code: 'SHOAL_ERR_INVALID_JOIN_TOKEN', status: 400, meaning: 'the join token is not of the form SWMTKN-1-<digest>-<secret>' }, InvalidArgumentError);
export type InvalidJoinTokenError = InstanceType<typeof InvalidJoinTokenError>;

/** A certificate, key or signing request does not parse or does not verify (bad PEM, bad signature, not from the cluster CA, expired). */
export const CertificateInvalidError = errorKind('CertificateInvalidError', { code: 'SHOAL_ERR_CERTIFICATE_INVALID', status: 400, meaning: 'a certificate, key or signing request does not parse or verify (bad PEM or signature, another CA, expired)' });
export type CertificateInvalidError = InstanceType<typeof CertificateInvalidError>;

/** The manager presented a certificate chain that does not end at the CA the join token names: another cluster, or someone in between. */
export const CaMismatchError = errorKind('CaMismatchError', { code: 'SHOAL_ERR_CA_MISMATCH', status: 502, meaning: "the manager's certificate does not chain to the CA the join token names" });
export type CaMismatchError = InstanceType<typeof CaMismatchError>;

/** The call needs a client certificate from the cluster CA and came with none, an expired one, one from another CA or a revoked one. */
export const CertificateRequiredError = errorKind('CertificateRequiredError', { code: 'SHOAL_ERR_CERTIFICATE_REQUIRED', status: 401, meaning: 'the call needs a valid, unrevoked client certificate from the cluster CA' });
export type CertificateRequiredError = InstanceType<typeof CertificateRequiredError>;

/** The caller's certificate is valid but its role may not make this call (a worker calling a manager-only endpoint). */
export const ForbiddenError = errorKind('ForbiddenError', { code: 'SHOAL_ERR_FORBIDDEN', status: 403, meaning: "the caller's role may not make this call (a worker calling a manager-only endpoint)" });
export type ForbiddenError = InstanceType<typeof ForbiddenError>;

/** Every code with what it means; the API docs and the uniqueness test read this. */
export const ERROR_CODES: Record<string, string> = Object.fromEntries(KINDS.map((k) => [new k.Class('').code, k.meaning]));

/** All error classes, for the registry test and for rebuilding errors from API answers. */
export const ERROR_CLASSES: readonly (typeof ShoalError)[] = KINDS.map((k) => k.Class);

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
