import * as net from 'node:net';
import { portKey, type Task } from '../../model/types';

/** Ports below this need CAP_NET_BIND_SERVICE (root) to bind. */
export const FIRST_UNPRIVILEGED_PORT = 1024;

/** Finds a port the task may listen on at an address; injected so the choice is testable. */
export type FreePortFinder = (address: string) => Promise<number>;

/** Ports chosen for one task: by target port number, and as reported in its status. */
export interface PortChoice {
  /** Target port number -> listening port; tcp and udp with the same target share one. */
  byTarget: Map<number, number>;
  /** `tcp/80` -> listening port, for TaskStatus.ports. */
  byKey: Record<string, number>;
}

/**
 * Chooses the port a task listens on for each of its target ports: the target
 * itself when the process may bind it, else a free port on the task's address.
 */
export async function choosePorts(task: Task, privileged: boolean, findFreePort: FreePortFinder): Promise<PortChoice> {
  const byTarget = new Map<number, number>();
  for (const { port } of task.targetPorts) {
    if (byTarget.has(port)) continue;
    const mayBind = privileged || port >= FIRST_UNPRIVILEGED_PORT;
    byTarget.set(port, mayBind ? port : await findFreePort(task.address));
  }
  const byKey: Record<string, number> = {};
  for (const { protocol, port } of task.targetPorts) byKey[portKey(protocol, port)] = byTarget.get(port)!;
  return { byTarget, byKey };
}

/**
 * Asks the kernel for a free TCP port on an address by binding port 0 and
 * closing. Another process may take it before the task binds it; the task then
 * fails and is restarted with a fresh choice, as with any bind failure.
 */
export function findFreeTcpPort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: address, port: 0, exclusive: true }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
