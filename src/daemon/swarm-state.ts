import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { NodeRole } from '../model/types';
import type { ManagerStoreSpec } from './daemon-options';

/** What a node remembers about its swarm membership, in `<state-dir>/swarm.json`. */
export interface SwarmState {
  nodeId?: string;
  role: NodeRole;
  /** host:port of the manager API. */
  managerAddr: string;
  /** host:port of every manager's API as last heard, to fail over to after a restart. */
  managers?: string[];
  /** A manager's etcd, when the managers share one (absent: the embedded store). */
  store?: ManagerStoreSpec;
}

const FILE = 'swarm.json';

/** Read the node's swarm membership, if it has one. */
export async function loadSwarmState(stateDir: string): Promise<SwarmState | undefined> {
  try {
    return JSON.parse(await readFile(path.join(stateDir, FILE), 'utf8')) as SwarmState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Persist the node's swarm membership atomically (temp file + rename). */
export async function saveSwarmState(stateDir: string, state: SwarmState): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const tmp = path.join(stateDir, `${FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(state, null, 2));
  await rename(tmp, path.join(stateDir, FILE));
}
