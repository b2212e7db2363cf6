import type { NodeNetworking, Node, NodeAvailability, NodeRole, PayloadReference, Service, ServiceSpec, Task, TaskStatus } from '../model/types';

/**
 * The manager API's requests and answers, shared by the server, the client,
 * the CLI and the agent. All bodies are JSON; errors are
 * `{ error: { code, message } }` with a 4xx/5xx status (src/errors.ts).
 *
 *   GET    /v1/info                         -> Info
 *   POST   /v1/swarm/init      SwarmInitRequest -> SwarmInitResponse
 *   POST   /v1/swarm/join      SwarmJoinRequest -> Info
 *   POST   /v1/swarm/leave     { force }        -> {}
 *   GET    /v1/swarm/join-token/:role           -> JoinTokenResponse
 *   GET    /v1/nodes                            -> Node[]
 *   GET    /v1/nodes/:idOrHostname              -> Node
 *   POST   /v1/nodes/:id/update NodeUpdateRequest -> Node
 *   DELETE /v1/nodes/:id?force=1                -> {}
 *   GET    /v1/services                         -> Service[]
 *   POST   /v1/services        { spec }         -> Service
 *   GET    /v1/services/:idOrName               -> Service
 *   POST   /v1/services/:id/update { spec, version } -> Service
 *   POST   /v1/services/:id/rollback { version } -> Service (spec := previous spec)
 *   DELETE /v1/services/:idOrName               -> {}
 *   GET    /v1/services/:idOrName/logs?tail=N&since=T&follow=1 -> NDJSON: LogLine per line (merged by time unless following)
 *   GET    /v1/tasks?service=idOrName           -> Task[]
 *   GET    /v1/tasks/:idOrPrefix                -> Task
 *   GET    /v1/tasks/:idOrPrefix/logs?tail=N&since=T&follow=1 -> NDJSON: LogLine per line, of that task
 *   GET    /v1/networks                         -> Network[]
 *   POST   /v1/networks        NetworkCreateRequest -> Network
 *   GET    /v1/networks/:idOrName               -> Network
 *   DELETE /v1/networks/:idOrName               -> {} (409 SHOAL_ERR_NETWORK_IN_USE while services or tasks use it)
 *   GET    /v1/secrets | /v1/configs            -> SecretView[] (never the data) | Config[]
 *   POST   /v1/secrets | /v1/configs  PayloadCreateRequest -> the object as GET shows it
 *   GET    /v1/secrets/:idOrName | /v1/configs/:idOrName -> SecretView (no data) | Config (data, base64)
 *   DELETE /v1/secrets/:idOrName | /v1/configs/:idOrName -> {} (409 SHOAL_ERR_IN_USE while a service uses it)
 *   POST   /v1/swarm/unlock    { key }          -> {} (manager only)
 *   GET    /v1/swarm/unlock-key                 -> { unlockKey } (manager only, autolock)
 *   GET    /v1/swarm/secrets-key                -> { key, unlockKey? } (manager token: a manager joining on etcd)
 *   GET    /v1/watch?prefix=P[&prefix=P2][&rev=N] -> NDJSON: WatchLine per line (a 'list' first unless rev=N replays from N)
 *   POST   /v1/dispatcher/register RegisterRequest -> RegisterResponse
 *   POST   /v1/dispatcher/heartbeat { nodeId }  -> { periodMs }
 *   POST   /v1/dispatcher/status StatusRequest  -> {}
 *   POST   /v1/dispatcher/payloads TaskPayloadsRequest -> TaskPayloadsResponse (that node's own task only)
 *   POST   /v1/dispatcher/secrets-key { nodeId } -> { key, unlockKey? } (a node on record as manager: promoted)
 */

/** What `GET /v1/info` tells about the daemon answering. */
export interface Info {
  nodeId: string | null;
  swarm: 'inactive' | 'active';
  role: NodeRole | null;
  isManager: boolean;
  managerAddr: string | null;
  address: string;
  dns: string;
  metrics: string;
  /** loopback or netns. */
  networkMode?: string;
  /** The dataplane this node runs and why better ones were passed over. */
  dataplane?: { name: string; passedOver: { name: string; reason: string }[] };
}

/** `swarm init`: the address other nodes use to reach this manager; autolock wraps the secrets key under an unlock key. */
export interface SwarmInitRequest {
  advertiseAddr?: string;
  autolock?: boolean;
  /** Node certificate lifetime (--cert-expiry), ms; default 90 days. */
  certExpiryMs?: number;
}

/** `swarm init` answer, with the join command Docker prints. */
export interface SwarmInitResponse {
  nodeId: string;
  workerToken: string;
  managerAddr: string;
  joinCommand: string;
  /** With autolock: the key `swarm unlock` needs after a restart, shown this once. */
  unlockKey?: string;
}

/** `swarm join`: manager address and join token. */
export interface SwarmJoinRequest {
  remoteAddr: string;
  token: string;
}

/** `swarm join-token worker|manager` answer. */
export interface JoinTokenResponse {
  role: NodeRole;
  token: string;
  command: string;
}

/** `POST /v1/ca/issue` (a joining node, with its token) and `/v1/ca/renew` (a node, with its certificate): a CSR. */
export interface IssueCertificateRequest {
  csrPem: string;
  /** The join token (issue only). */
  token?: string;
  /** Addresses the node's API answers on, put in the certificate so `curl --cacert` can check them. */
  ipAddresses?: string[];
}

/** A signed node certificate: who it names, the chain to present after it, and the roots to trust. */
export interface IssueCertificateResponse {
  nodeId: string;
  role: NodeRole;
  certPem: string;
  chainPem: string;
  trustBundle: string[];
}

/** `swarm ca`: the root, and a rotation under way with the nodes still on the old root. */
export interface CaInfoResponse {
  rootPem: string;
  rotation?: { nextRootPem: string; startedAt: string; pendingNodes: string[] };
  certExpiryMs: number;
}

/** `node update` changes. */
export interface NodeUpdateRequest {
  availability?: NodeAvailability;
  labelAdd?: Record<string, string>;
  labelRm?: string[];
  role?: NodeRole;
}

/** `service update` sends the whole new spec and the version it was based on (CAS). */
export interface ServiceUpdateRequest {
  spec: ServiceSpec;
  version: number;
  /** Redeploy every task even if the spec did not change. */
  force?: boolean;
}

/** `network create`: overlay only; without a subnet the next free 10.0.N.0/24 is taken. */
export interface NetworkCreateRequest {
  name: string;
  /** Only `overlay` (the default). */
  driver?: string;
  /** IPv4 CIDR, prefix /16 to /29, not overlapping another network. */
  subnet?: string;
  labels?: Record<string, string>;
}

/** Which task a `service logs` line is from. */
export interface LogLineTask {
  taskId: string;
  serviceName: string;
  slot: number;
  nodeId: string;
}

/**
 * One line of a `service logs` stream: a log line (its receive time in
 * RFC3339Nano, its stream, its text; `p` when the line goes on in the next
 * one), or why a task's log could not be read (its node is unreachable).
 */
export type LogLine =
  | (LogLineTask & { type: 'log'; t: string; s: 'out' | 'err'; l: string; p?: boolean })
  | (LogLineTask & { type: 'error'; message: string });

/** A node announcing itself to the dispatcher. */
export interface RegisterRequest {
  /** Set when the node registered before (kept in its state dir). */
  nodeId?: string;
  hostname: string;
  address: string;
  role: NodeRole;
  labels?: Record<string, string>;
  platform: { os: string; arch: string };
  resources: { nanoCpus: number; memoryBytes: number };
  /** `api`: a manager's API port, so nodes can reach every manager. */
  ports: { dns: number; metrics: number; api?: number };
  /** How the node forwards: network mode and dataplane, for `node inspect`. */
  networking?: NodeNetworking;
}

/** Dispatcher's answer to a registration. */
export interface RegisterResponse {
  nodeId: string;
  index: number;
  heartbeatPeriodMs: number;
  /** host:port of every manager's API, for the node to fail over to. */
  managers?: string[];
}

/** Dispatcher's answer to a heartbeat. */
export interface HeartbeatResponse {
  periodMs: number;
  /** host:port of every manager's API, as of the leader's last liveness check. */
  managers?: string[];
  /** The node's role on record: a node promoted or demoted starts or stops its manager part when it differs from its own. */
  role?: NodeRole;
  /** The managers' etcd (`etcd://...`), named to a manager on a shared store: where a promoted node's manager part keeps the cluster. */
  store?: string;
  /** The roots to trust, and the root a node's certificate must come from (during `swarm ca --rotate` the new one: a node on another renews now). */
  pki?: { trustBundle: string[]; issuingRootPem: string };
}

/** Task status updates from an agent; the manager only moves states forward. */
export interface StatusRequest {
  nodeId: string;
  updates: { taskId: string; status: TaskStatus }[];
}

/** One line of a watch stream. */
export type WatchLine =
  | { type: 'list'; revision: number; kvs: { key: string; value: unknown; modRevision: number }[] }
  | { type: 'events'; events: { type: 'put' | 'delete'; key: string; value: unknown; revision: number }[] }
  | { type: 'error'; code: string; message: string };

/** Objects of the cluster as a watcher sees them. */
export interface ClusterObjects {
  nodes: Map<string, Node>;
  services: Map<string, Service>;
  tasks: Map<string, Task>;
}

/** `secret create` / `config create`: the data in base64. */
export interface PayloadCreateRequest {
  name: string;
  labels?: Record<string, string>;
  data: string;
}

/** A node asks for one of its tasks' secrets and configs before starting it. */
export interface TaskPayloadsRequest {
  nodeId: string;
  taskId: string;
}

/** The task's references with their data (base64), secrets decrypted. */
export interface TaskPayloadsResponse {
  secrets: (PayloadReference & { data: string })[];
  configs: (PayloadReference & { data: string })[];
}
