import { portKey, type Task } from '../../model/types';
import type { PortNeed } from './host-ports';

/**
 * Reserves ports for a task that shares the host's network; `release` gives
 * them back. HostPortReservations is the real one; tests hand in a counter.
 */
export interface TaskPortReserver {
  reserve(owner: string, needs: PortNeed[]): Promise<number[]>;
  release(owner: string): Promise<void>;
}

/**
 * Where a task's ports come from: its own target ports when it has a network
 * namespace of its own (netns mode, where nothing else can hold them), or
 * host-wide reservations when it shares the host with every other task and
 * daemon (loopback mode).
 */
export type PortSource = { kind: 'own-namespace' } | { kind: 'shared-host'; reserver: TaskPortReserver };

/** Ports chosen for one task: by target port number, and as reported in its status. */
export interface PortChoice {
  /** Target port number -> listening port; tcp and udp with the same target share one. */
  byTarget: Map<number, number>;
  /** `tcp/80` -> listening port, for TaskStatus.ports. */
  byKey: Record<string, number>;
}

/**
 * Chooses the port a task listens on for each of its target ports. On a
 * shared host the target (80, 8080...) may be held by any other listener on
 * any address, and apps bind every address (`::`, `0.0.0.0`), so each target
 * gets a port reserved host-wide and free on every address; tcp and udp of one
 * target share it. In its own namespace the target port is the task's alone.
 */
export async function choosePorts(task: Task, source: PortSource): Promise<PortChoice> {
  const targets: number[] = [];
  const needs: PortNeed[] = [];
  for (const { protocol, port } of task.targetPorts) {
    let i = targets.indexOf(port);
    if (i < 0) {
      i = targets.push(port) - 1;
      needs.push({ tcp: false, udp: false });
    }
    needs[i][protocol] = true;
  }
  const listen = source.kind === 'own-namespace' ? targets : await source.reserver.reserve(task.id, needs);
  const byTarget = new Map(targets.map((t, i) => [t, listen[i]]));
  const byKey: Record<string, number> = {};
  for (const { protocol, port } of task.targetPorts) byKey[portKey(protocol, port)] = byTarget.get(port)!;
  return { byTarget, byKey };
}
