import { constants } from 'node:os';

/** How a task's process ended, as reported to the manager. */
export interface TaskOutcome {
  state: 'complete' | 'failed' | 'shutdown';
  message: string;
  /** Exit status; for a signal, 128 + its number, as a shell and Docker report it. */
  exitCode: number;
}

/** Offset a shell adds to a signal number to make an exit status. */
const SIGNAL_EXIT_BASE = 128;

/**
 * Turns a process exit into a task outcome. After a requested stop the task is
 * `shutdown` whatever the process did, since dying of SIGKILL after the grace
 * period is the stop working, not the task failing. A failure names `cause`
 * (the telling line of its output, exit-cause.ts) when there is one.
 */
export function taskOutcome(code: number | null, signal: NodeJS.Signals | null, stopRequested: boolean, cause?: string): TaskOutcome {
  const exitCode = signal ? SIGNAL_EXIT_BASE + (constants.signals[signal] ?? 0) : (code ?? 0);
  const why = cause ? `: ${cause}` : '';
  if (stopRequested) return { state: 'shutdown', message: 'shutdown', exitCode };
  if (signal) return { state: 'failed', message: `killed by signal ${signal}${why}`, exitCode };
  if (exitCode !== 0) return { state: 'failed', message: `task: non-zero exit (${exitCode})${why}`, exitCode };
  return { state: 'complete', message: 'finished', exitCode };
}
