import type { Task, TaskTemplate } from '../../../src/model/types';

/** A task as the manager would hand it to the executor, with overrides. */
export function makeTask(id: string, command: string[], over: Partial<Task> = {}, spec: Partial<TaskTemplate> = {}): Task {
  return {
    id,
    serviceId: 'svc-1',
    serviceName: 'web',
    slot: 2,
    nodeId: 'node-1',
    specVersion: 1,
    spec: {
      command,
      env: {},
      restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: [] },
      stopGracePeriodMs: 10_000,
      ...spec,
    },
    targetPorts: [],
    desiredState: 'running',
    status: { state: 'assigned', since: '2024-01-01T00:00:00.000Z', message: '' },
    address: '127.0.0.1',
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...over,
  };
}
