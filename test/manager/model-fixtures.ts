/**
 * Builders of plain nodes, services and tasks for the manager's table tests:
 * every field filled with a boring default, the case overriding only what
 * it is about.
 */
import type { Node, PortConfig, RestartPolicy, Service, Task, TaskState } from '../../src/model/types';

/** The fixed "now" of every test: 2025-01-01T00:00:00Z. */
export const T0 = Date.parse('2025-01-01T00:00:00.000Z');

/** ISO stamp `ms` after T0. */
export function at(ms: number): string {
  return new Date(T0 + ms).toISOString();
}

/** A ready, active worker. */
export function makeNode(id: string, over: Partial<Node> = {}): Node {
  return {
    id,
    hostname: `host-${id}`,
    role: 'worker',
    availability: 'active',
    labels: {},
    address: '127.0.1.1',
    index: 1,
    platform: { os: 'linux', arch: 'x64' },
    resources: { nanoCpus: 1e9, memoryBytes: 1 << 30 },
    ports: { dns: 53, metrics: 9100 },
    status: { state: 'ready', since: at(0), message: '' },
    createdAt: at(0),
    updatedAt: at(0),
    ...over,
  };
}

/** Knobs of a test service. */
export interface ServiceOptions {
  mode?: 'replicated' | 'global';
  replicas?: number;
  version?: number;
  constraints?: string[];
  ports?: PortConfig[];
  restart?: Partial<RestartPolicy>;
}

/** A replicated service named after its id, restart condition any, no delay. */
export function makeService(id: string, o: ServiceOptions = {}): Service {
  return {
    id,
    version: o.version ?? 1,
    spec: {
      name: id,
      labels: {},
      mode: o.mode ?? 'replicated',
      replicas: o.replicas ?? 1,
      task: {
        command: ['node', 'server.js'],
        env: {},
        restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0, ...o.restart },
        placement: { constraints: o.constraints ?? [] },
        stopGracePeriodMs: 10_000,
      },
      endpoint: { mode: 'vip', ports: o.ports ?? [] },
    },
    endpoint: { vipIndex: 1 },
    createdAt: at(0),
    updatedAt: at(0),
  };
}

/** Knobs of a test task. */
export interface TaskOptions {
  slot?: number;
  nodeId?: string;
  state?: TaskState;
  desired?: TaskState;
  /** ms after T0 the status state began. */
  since?: number;
  /** ms after T0 the task was created. */
  created?: number;
  message?: string;
  exitCode?: number;
  version?: number;
}

/** A task of `service`, running on n1 in slot 1 unless told otherwise. */
export function makeTask(id: string, service: Service, o: TaskOptions = {}): Task {
  const created = o.created ?? 0;
  return {
    id,
    serviceId: service.id,
    serviceName: service.spec.name,
    slot: o.slot ?? 1,
    nodeId: o.nodeId ?? 'n1',
    specVersion: o.version ?? service.version,
    spec: structuredClone(service.spec.task),
    targetPorts: [],
    desiredState: o.desired ?? 'running',
    status: {
      state: o.state ?? 'running',
      since: at(o.since ?? created),
      message: o.message ?? '',
      ...(o.exitCode === undefined ? {} : { exitCode: o.exitCode }),
    },
    address: `127.100.0.${id.length}`,
    createdAt: at(created),
    updatedAt: at(created),
  };
}

/** Deterministic deps for the orchestrators: ids new-1, new-2… and addresses 127.100.9.1, .2… */
export function fakeDeps(): { newId(): string; allocateAddress(): string } {
  let id = 0;
  let addr = 0;
  return { newId: () => `new-${++id}`, allocateAddress: () => `127.100.9.${++addr}` };
}
