/**
 * What the visualizer page shows, built from the store's objects: nodes as
 * columns, tasks as cards, services with a stable colour and their update's
 * progress. A pure function over plain data, so that what leaves the manager
 * is decided in one place: names, ids, states, replicas and node facts, never
 * a task's command, environment, secrets, configs or labels.
 */
import { isDirty } from '../spec/task-spec';
import { isTerminal, stateRank, type Node, type Service, type Task, type TaskState, type UpdateStatus } from '../model/types';

/** A node column. */
export interface UiNode {
  id: string;
  hostname: string;
  role: Node['role'];
  availability: Node['availability'];
  state: Node['status']['state'];
  address: string;
}

/** Progress of a service's update or rollback, as "updating 2/5". */
export interface UiUpdate {
  state: UpdateStatus['state'];
  /** Tasks that run the service's current spec and are running. */
  done: number;
  /** Tasks the service wants. */
  total: number;
  message: string;
}

/** A service in the legend: its colour and how many of its tasks run. */
export interface UiService {
  id: string;
  name: string;
  mode: Service['spec']['mode'];
  /** Replicas wanted; null for global services (one per eligible node). */
  replicas: number | null;
  /** Tasks that should run and do. */
  running: number;
  /** Hue (0..359) the page colours the service's cards with; the same name always gets the same hue. */
  hue: number;
  /** Present while an update or rollback is under way or paused, and once it completed. */
  update?: UiUpdate;
}

/** A task card. */
export interface UiTask {
  id: string;
  serviceId: string;
  serviceName: string;
  slot: number;
  /** '' while no node is assigned. */
  nodeId: string;
  state: TaskState;
  desiredState: TaskState;
  since: string;
  /** False for history: the task was told to stop and has stopped. */
  current: boolean;
  /** Runs the service's current spec. */
  upToDate: boolean;
  exitCode?: number;
  health?: Task['status']['health'];
}

/** One picture of the cluster, sent whole to the page on every change. */
export interface UiSnapshot {
  nodes: UiNode[];
  services: UiService[];
  tasks: UiTask[];
}

/** Update states during which the header shows progress. */
const IN_PROGRESS: readonly UpdateStatus['state'][] = ['updating', 'paused', 'rollback_started', 'rollback_paused'];

/**
 * A hue for a service name: FNV-1a of the name, spread by the golden angle
 * so that names differing by one letter still get far-apart colours.
 */
export function serviceHue(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return Math.floor((h * 137.508) % 360);
}

/** A task that is still part of the service: told to run, or not yet stopped. */
export function isCurrent(task: Task): boolean {
  return !isTerminal(task.desiredState) || !isTerminal(task.status.state);
}

/** Tasks that should run and do. */
function running(tasks: Task[]): Task[] {
  return tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');
}

function updateOf(service: Service, tasks: Task[], wanted: number): UiUpdate | undefined {
  const status = service.updateStatus;
  if (!status) return undefined;
  const done = running(tasks).filter((t) => !isDirty(t, service)).length;
  const inProgress = IN_PROGRESS.includes(status.state);
  return { state: status.state, done: inProgress ? Math.min(done, wanted) : wanted, total: wanted, message: status.message };
}

function uiService(service: Service, tasks: Task[]): UiService {
  const { spec } = service;
  const replicated = spec.mode === 'replicated' || spec.mode === 'replicated-job';
  const wanted = replicated ? spec.replicas : tasks.filter((t) => t.desiredState === 'running').length;
  const update = updateOf(service, tasks, wanted);
  return {
    id: service.id,
    name: spec.name,
    mode: spec.mode,
    replicas: replicated ? spec.replicas : null,
    running: running(tasks).length,
    hue: serviceHue(spec.name),
    ...(update && { update }),
  };
}

function uiTask(task: Task, service: Service | undefined): UiTask {
  const { status } = task;
  return {
    id: task.id,
    serviceId: task.serviceId,
    serviceName: service?.spec.name ?? task.serviceName,
    slot: task.slot,
    nodeId: task.nodeId,
    state: status.state,
    desiredState: task.desiredState,
    since: status.since,
    current: isCurrent(task),
    upToDate: service ? !isDirty(task, service) : false,
    ...(status.exitCode !== undefined && { exitCode: status.exitCode }),
    ...(status.health !== undefined && { health: status.health }),
  };
}

/** Managers first, then by hostname. */
function nodeOrder(a: Node, b: Node): number {
  if (a.role !== b.role) return a.role === 'manager' ? -1 : 1;
  return a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id);
}

/** By service, slot, then current before history, newest first. */
function taskOrder(a: UiTask, b: UiTask): number {
  return (
    a.serviceName.localeCompare(b.serviceName) ||
    a.slot - b.slot ||
    Number(b.current) - Number(a.current) ||
    b.since.localeCompare(a.since) ||
    stateRank(a.state) - stateRank(b.state) ||
    a.id.localeCompare(b.id)
  );
}

/** The page's picture of the cluster from the store's nodes, services and tasks (tasks of removed services are left out). */
export function buildSnapshot(nodes: Iterable<Node>, services: Iterable<Service>, tasks: Iterable<Task>): UiSnapshot {
  const byService = new Map<string, Task[]>();
  const serviceList = [...services];
  for (const s of serviceList) byService.set(s.id, []);
  for (const t of tasks) byService.get(t.serviceId)?.push(t);
  const serviceById = new Map(serviceList.map((s) => [s.id, s]));
  return {
    nodes: [...nodes].sort(nodeOrder).map((n) => ({
      id: n.id,
      hostname: n.hostname,
      role: n.role,
      availability: n.availability,
      state: n.status.state,
      address: n.address,
    })),
    services: serviceList.map((s) => uiService(s, byService.get(s.id)!)).sort((a, b) => a.name.localeCompare(b.name)),
    tasks: [...byService.values()]
      .flat()
      .map((t) => uiTask(t, serviceById.get(t.serviceId)))
      .sort(taskOrder),
  };
}
