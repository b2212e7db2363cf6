/**
 * Birth of a task: the one place that turns a service into a new task, so
 * the replicated, global and restart paths create identical tasks.
 */
import type { Service, Task } from '../../model/types';
import { PENDING_MESSAGE, pendingStatus } from '../../spec/pending';
import { targetPorts } from '../../spec/task-spec';
import type { IdDeps } from './actions';
import type { NetworkAllocation } from '../allocator/task-networks';

export { makeAddressAllocator } from '../allocator/address-allocator';

/** Side effects a new task needs: an id, a task address and (netns mode) its overlay addresses. */
export interface TaskFactoryDeps extends IdDeps {
  allocateAddress(): string;
  /** One address on each network of the service (allocator/task-networks.ts); absent: the task gets no `networks`. */
  allocateNetworks?(service: Service): NetworkAllocation;
}

/**
 * A fresh task of `service` in `slot` (0 for global), bound to `nodeId` ('' for
 * the scheduler to pick), with the slot's restart count (restart/restart-count.ts).
 */
export function newTask(service: Service, slot: number, nodeId: string, now: number, deps: TaskFactoryDeps, restarts = 0): Task {
  const at = new Date(now).toISOString();
  const nets = deps.allocateNetworks?.(service);
  return {
    id: deps.newId(),
    serviceId: service.id,
    serviceName: service.spec.name,
    slot,
    nodeId,
    specVersion: service.version,
    // The task keeps its own copy: a later service update must not change what a running process was started with.
    spec: structuredClone(service.spec.task),
    targetPorts: targetPorts(service),
    // Recorded so that a later `service update --force` (a bump) makes this task dirty.
    ...(service.forceUpdate !== undefined && { forceUpdate: service.forceUpdate }),
    desiredState: 'running',
    // A network that is full leaves the task pending, saying which; the control loop retries it and keeps it from the scheduler.
    status: nets && !nets.ok ? pendingStatus('no-free-address', nets.reason, at) : pendingStatus('scheduling', PENDING_MESSAGE, at),
    address: deps.allocateAddress(),
    ...(nets?.ok && { networks: nets.networks }),
    ...(restarts > 0 && { restarts }),
    createdAt: at,
    updatedAt: at,
  };
}
