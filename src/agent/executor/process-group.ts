import { isRecordedProcessAlive, type PidRecord } from './pid-file';

/** How long cleanupOrphans() waits for a killed orphan to be gone. */
export const ORPHAN_EXIT_TIMEOUT_MS = 2_000;
/** How often cleanupOrphans() looks whether a killed orphan is gone. */
export const ORPHAN_POLL_MS = 20;

/**
 * Signals a task's whole process group (detached, so the leader's pid is the
 * group id); false when the group is gone, which is no error for a stop.
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Kills a process a previous daemon run left (and its group), waiting a bounded time until it is gone. */
export async function killOrphan(rec: PidRecord): Promise<void> {
  // A leader that is no longer a group leader (or never was) still gets its own signal.
  if (!signalGroup(rec.pid, 'SIGKILL')) {
    try {
      process.kill(rec.pid, 'SIGKILL');
    } catch {
      // Gone between the check and the kill.
    }
  }
  // Not our child, so no exit event: look until it is gone or a zombie.
  for (let waited = 0; waited < ORPHAN_EXIT_TIMEOUT_MS && isRecordedProcessAlive(rec); waited += ORPHAN_POLL_MS) {
    await new Promise((resolve) => setTimeout(resolve, ORPHAN_POLL_MS));
  }
}
