/**
 * The cluster model: plain JSON objects that live in the store under
 * `/nodes/<id>`, `/services/<id>`, `/tasks/<id>` and `/cluster`.
 * Every part (manager loops, agent, mesh, CLI) reads these shapes; nothing
 * here has behaviour.
 */
import type { PayloadReference } from './payloads';

export type { Config, PayloadReference, SealedData, Secret } from './payloads';
export type { Cluster, ClusterCa, IssuedNodeCert, StoredCaKey } from './cluster';

/** Role of a node in the cluster. */
export type NodeRole = 'manager' | 'worker';
/** Scheduling availability an operator sets with `node update --availability`. */
export type NodeAvailability = 'active' | 'pause' | 'drain';
/** Liveness the dispatcher derives from heartbeats. */
export type NodeStatusState = 'ready' | 'down' | 'unknown';

/** A machine running `shoal daemon`. */
export interface Node {
  id: string;
  hostname: string;
  role: NodeRole;
  availability: NodeAvailability;
  labels: Record<string, string>;
  /** Address the node's mesh, DNS and metrics listen on (loopback mode: 127.0.1.k). */
  address: string;
  /** Index k of the node (1-based), used to derive its VIP range 127.(20+k).0.0/16. */
  index: number;
  platform: { os: string; arch: string };
  resources: { nanoCpus: number; memoryBytes: number };
  /** Ports the node's daemon serves besides published ports. */
  ports: { dns: number; metrics: number; api?: number };
  status: { state: NodeStatusState; since: string; message: string };
  /** How the node forwards, as it reported at registration. */
  networking?: NodeNetworking;
  /** Managers only, added by the API when it answers (never stored): whether it leads, and whether it answers heartbeats. */
  managerStatus?: ManagerStatus;
  createdAt: string;
  updatedAt: string;
}

/** Docker's MANAGER STATUS: Leader, Reachable or Unreachable. */
export interface ManagerStatus {
  leader: boolean;
  reachability: 'reachable' | 'unreachable';
}

/** A node's network mode and dataplane, and why it passed the better dataplanes over. */
export interface NodeNetworking {
  mode: 'loopback' | 'netns';
  dataplane: string;
  passedOver: { name: string; reason: string }[];
}

/** Service mode, as in Docker: long-running (replicated, global) or run-to-completion jobs. */
export type ServiceModeName = 'replicated' | 'global' | 'replicated-job' | 'global-job';

/** Transport protocol of a published or target port. */
export type Protocol = 'tcp' | 'udp';

/** A port a service exposes: `-p 8080:80/tcp`. */
export interface PortConfig {
  protocol: Protocol;
  targetPort: number;
  /** Published port on every node (ingress) or on the task's node (host). */
  publishedPort?: number;
  publishMode: 'ingress' | 'host';
  /** Send a PROXY protocol header (v1 text, v2 binary) to the task so it sees the client's address (TCP, ingress). */
  proxyProtocol?: 'v1' | 'v2';
}

/** How a frontend picks a backend for a new connection or UDP flow. */
export type LbPolicy = 'round-robin' | 'least-connections' | 'source-hash';

/** Load-balancing settings of a service's endpoint; all optional, defaults in brackets. */
export interface LbSettings {
  /** [round-robin] */
  policy?: LbPolicy;
  /** source-hash: how long a client stays with its backend after its last connection [3 h, as IPVS's persistence]. */
  affinityTimeoutMs?: number;
  /** Close a TCP connection idle this long; 0 or absent: never (no IPVS-style 15-minute cut). */
  idleTimeoutMs?: number;
  /** Open connections per published port on each node; 0 or absent: unlimited. */
  maxConnections?: number;
  /** Open connections per backend from each node; 0 or absent: unlimited. */
  maxConnectionsPerBackend?: number;
}

/** When a task that stopped is replaced. */
export type RestartCondition = 'any' | 'on-failure' | 'none';

/** Restart policy of a task template. Durations in milliseconds. */
export interface RestartPolicy {
  condition: RestartCondition;
  delayMs: number;
  /** 0 means unlimited. */
  maxAttempts: number;
  /** Window in which attempts are counted; 0 means for ever. */
  windowMs: number;
}

/** A placement constraint, parsed from `node.labels.zone==east`. */
export interface Constraint {
  key: string;
  op: '==' | '!=';
  value: string;
}

/**
 * A health check of a task (Docker's HEALTHCHECK plus HTTP and TCP probes).
 * `cmd` runs `command` (argv; a single string runs through `sh -c`) in the
 * task's environment; `http` GETs `path` on the task's first target port and
 * wants 2xx/3xx; `tcp` connects to it. Durations in milliseconds.
 */
export interface HealthCheck {
  kind: 'cmd' | 'http' | 'tcp';
  command?: string[];
  path?: string;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

/** CPU in nano-CPUs (1e9 = one CPU) and memory in bytes, as Docker counts them. */
export interface Resources {
  nanoCpus: number;
  memoryBytes: number;
}

/** Where tasks may go (`--constraint`, `--placement-pref`, `--replicas-max-per-node`). */
export interface Placement {
  constraints: string[];
  /** Spread preferences, outermost first: `[{ spread: 'node.labels.zone' }]`. */
  preferences?: { spread: string }[];
  /** At most this many tasks of the service per node; 0 = no limit. */
  maxReplicas?: number;
}

/** What each task of a service runs and how. */
export interface TaskTemplate {
  /** argv of the process: the "image and args" of Docker. */
  command: string[];
  env: Record<string, string>;
  /** Working directory of the process; defaults to the daemon's cwd. */
  workdir?: string;
  restartPolicy: RestartPolicy;
  placement: Placement;
  stopGracePeriodMs: number;
  /** Absent: no check, the task gets traffic once running. */
  healthcheck?: HealthCheck;
  /** Reservations are checked by the scheduler; limits are applied to the process where possible. */
  resources?: { reservations?: Partial<Resources>; limits?: Partial<Resources> };
  /** Secrets the task sees as files (`--secret`); the manager resolves names to ids. */
  secrets?: PayloadReference[];
  /** Configs the task sees as files (`--config`). */
  configs?: PayloadReference[];
}

/** How an update (or a rollback) walks the tasks; Docker's flags and defaults. */
export interface UpdateConfig {
  /** Tasks updated at once; 0 = all at once. Default 1. */
  parallelism: number;
  /** Wait between batches. Default 0. */
  delayMs: number;
  /** On too many failures: pause (default), continue, or rollback (update only). */
  failureAction: 'pause' | 'continue' | 'rollback';
  /** How long a new task is watched after it starts running. Default 5 s. */
  monitorMs: number;
  /** Failures tolerated, as a fraction of tasks updated (0..1). Default 0. */
  maxFailureRatio: number;
  /** stop-first (default) or start-first. */
  order: 'stop-first' | 'start-first';
}

/** Progress of the last update or rollback, as `service inspect` shows it. */
export interface UpdateStatus {
  state: 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';
  startedAt: string;
  completedAt?: string;
  message: string;
}

/** What the operator asked for. */
export interface ServiceSpec {
  name: string;
  labels: Record<string, string>;
  mode: ServiceModeName;
  /** Replica count, for replicated mode; for replicated-job, the total completions wanted. */
  replicas: number;
  /** Jobs: at most this many tasks run at once (0 = replicas for replicated-job, every node for global-job). */
  maxConcurrent?: number;
  task: TaskTemplate;
  updateConfig?: UpdateConfig;
  rollbackConfig?: UpdateConfig;
  endpoint: {
    mode: 'vip' | 'dnsrr';
    ports: PortConfig[];
    /** Load-balancing policy and limits of the userspace mesh. */
    lb?: LbSettings;
  };
  /** Overlay networks the tasks join (netns mode), by name or id as given; the manager stores ids. Empty or absent: the default network. */
  networks?: string[];
}

/** A service: the spec plus what the manager allocated for it. */
export interface Service {
  id: string;
  /** Bumped on every spec change; tasks record the version they run. */
  version: number;
  spec: ServiceSpec;
  previousSpec?: ServiceSpec;
  /** Allocated by the manager: index n of the VIP, 127.(20+k).(n>>8).(n&255) on node k; and one VIP per overlay network (netns mode). */
  endpoint: { vipIndex: number | null; virtualIPs?: NetworkAddress[] };
  /** Bumped by `service update --force`: every task is redeployed (Docker's ForceUpdate). */
  forceUpdate?: number;
  /** State of the last update or rollback. */
  updateStatus?: UpdateStatus;
  createdAt: string;
  updatedAt: string;
}

/** Task states, in the order swarmkit moves through them. */
export const TASK_STATES = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'starting',
  'running',
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
] as const;
/** One state of a task's lifecycle. */
export type TaskState = (typeof TASK_STATES)[number];

/** A unit of work placed on one node: one process. */
export interface Task {
  id: string;
  serviceId: string;
  serviceName: string;
  /** Replicated: 1..N. Global: 0 (the node identifies the task). */
  slot: number;
  /** Empty until the scheduler assigns one (global tasks are born with it). */
  nodeId: string;
  /** Service version this task runs. */
  specVersion: number;
  /** Spec the task was created from: tasks do not change under a running process. */
  spec: TaskTemplate;
  /** The service's forceUpdate counter when the task was created (`--force` makes every task dirty). */
  forceUpdate?: number;
  /** Ports the task's process must listen on (target ports). */
  targetPorts: { protocol: Protocol; port: number }[];
  desiredState: TaskState;
  status: TaskStatus;
  /** Address the task binds (loopback mode: a unique 127.100.x.y; netns mode: its address on its first network). */
  address: string;
  /** Netns mode: the task's address on each network it joins (allocated by the manager with the task). */
  networks?: NetworkAddress[];
  /**
   * How often this slot (replicated) or this node's task (global) was replaced
   * after its task ended on its own, counted on from the task it replaces;
   * a replacement by an update, rollback or force starts again. Absent: 0.
   */
  restarts?: number;
  createdAt: string;
  updatedAt: string;
}

/** An address allocated on one overlay network. */
export interface NetworkAddress {
  networkId: string;
  address: string;
}

/**
 * An overlay network (netns mode): a bridge on every node, joined by VXLAN
 * with this VNI; tasks get addresses from `subnet`, VIPs from `vipRange`
 * (routed through the node, so the kernel or the mesh can balance them).
 */
export interface Network {
  id: string;
  name: string;
  driver: 'overlay';
  /** IPv4 CIDR, e.g. 10.0.0.0/24. */
  subnet: string;
  /** The block of `subnet` VIPs come from (its top quarter), routed via the node in every task namespace. */
  vipRange: string;
  /** VXLAN network identifier, unique in the cluster. */
  vni: number;
  /** Each node's own address on the network: its bridge's, the gateway and DNS server of its local tasks. */
  nodeAddresses: Record<string, string>;
  labels: Record<string, string>;
  /** Created with the cluster; services that name no network join it. Cannot be removed. */
  builtin: boolean;
  createdAt: string;
  updatedAt: string;
}

/** Observed state of a task, reported by the scheduler and then the agent. */
/** Why a pending task waits (spec/pending.ts): its turn with the scheduler, no node that fits, no free overlay address. */
export type PendingReason = 'scheduling' | 'no-suitable-node' | 'no-free-address';

export interface TaskStatus {
  state: TaskState;
  since: string;
  message: string;
  /** Set while pending: why, as a code (the message says it in words). */
  pendingReason?: PendingReason;
  err?: string;
  exitCode?: number;
  pid?: number;
  /** Port the process listens on for each target port ("tcp/80" -> 80 or an allocated one). */
  ports?: Record<string, number>;
  /** Result of the task's health check, when its spec has one. */
  health?: 'starting' | 'healthy' | 'unhealthy';
}

/** Numeric order of a state, so that "at least running" is a comparison. */
export function stateRank(state: TaskState): number {
  return TASK_STATES.indexOf(state);
}

/** A state after running: the process is gone for good. */
export function isTerminal(state: TaskState): boolean {
  return stateRank(state) > stateRank('running');
}

/**
 * Whether a task holds its node's host-mode published ports: it was assigned
 * to the node and has not ended. The node's mesh serves the ports for exactly
 * that long, while the task starts, becomes healthy and drains.
 */
export function holdsHostPorts(task: Task): boolean {
  const rank = stateRank(task.status.state);
  return task.nodeId !== '' && rank >= stateRank('assigned') && rank <= stateRank('running');
}

/** Store key prefixes. */
export const KEYS = {
  cluster: '/cluster',
  nodes: '/nodes/',
  services: '/services/',
  tasks: '/tasks/',
  networks: '/networks/',
  secrets: '/secrets/',
  configs: '/configs/',
  certs: '/certs/',
  cert: (nodeId: string) => `/certs/${nodeId}`,
  secret: (id: string) => `/secrets/${id}`,
  config: (id: string) => `/configs/${id}`,
  network: (id: string) => `/networks/${id}`,
  node: (id: string) => `/nodes/${id}`,
  service: (id: string) => `/services/${id}`,
  task: (id: string) => `/tasks/${id}`,
} as const;

/** Key of a port in TaskStatus.ports and in env names. */
export function portKey(protocol: Protocol, port: number): string {
  return `${protocol}/${port}`;
}
