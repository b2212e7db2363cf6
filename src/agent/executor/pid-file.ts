import { promises as fs, readFileSync, writeFileSync } from 'node:fs';

/** What a pid file records: enough to tell the task's process from a later one given the same pid. */
export interface PidRecord {
  pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22); null where /proc is missing. */
  startTime: number | null;
}

/** State and start time of a process from /proc/<pid>/stat, or null when it does not exist. */
export function procStat(pid: number): { state: string; startTime: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may hold spaces and parentheses; fields after the last ')' start at field 3.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0], startTime: Number(rest[22 - 3]) };
}

/**
 * Whether the process a pid record names still runs: same pid, same start
 * time, and not a zombie (a killed orphan stays a zombie until whichever
 * process adopted it reaps it, which in a container may be never).
 */
export function isRecordedProcessAlive(rec: PidRecord): boolean {
  const st = procStat(rec.pid);
  if (!st || st.state === 'Z') return false;
  return rec.startTime === null || st.startTime === rec.startTime;
}

/**
 * Writes a pid file for a freshly spawned process; synchronously, so that an
 * exit handled right after cannot run before it and leave a stale file.
 */
export function writePidFile(file: string, pid: number): PidRecord {
  const rec: PidRecord = { pid, startTime: procStat(pid)?.startTime ?? null };
  writeFileSync(file, JSON.stringify(rec) + '\n');
  return rec;
}

/** Reads a pid file; null when it is missing or unreadable (a crash mid-write). */
export async function readPidFile(file: string): Promise<PidRecord | null> {
  try {
    const rec = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<PidRecord>;
    if (!Number.isInteger(rec.pid) || (rec.pid as number) <= 0) return null;
    return { pid: rec.pid as number, startTime: typeof rec.startTime === 'number' ? rec.startTime : null };
  } catch {
    return null;
  }
}
