import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/** util-linux setpriv, which can set the parent-death signal before exec'ing the task. */
export const SETPRIV_PATH = '/usr/bin/setpriv';

let cached: string | null | undefined;

/**
 * The setpriv binary to wrap tasks with so they get SIGKILL when the daemon
 * dies, or null when it is missing or too old to know `--pdeathsig` (added in
 * util-linux 2.33). Checked once per daemon.
 */
export function findSetpriv(): string | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    accessSync(SETPRIV_PATH, constants.X_OK);
    const help = spawnSync(SETPRIV_PATH, ['--help'], { encoding: 'utf8' });
    if (help.stdout.includes('--pdeathsig')) cached = SETPRIV_PATH;
  } catch {
    // Missing or not executable: tasks run unwrapped and only cleanupOrphans() catches them.
  }
  return cached;
}

/**
 * argv that runs `file args...` with SIGKILL as its parent-death signal. The
 * signal fires when the *thread* that forked the task exits; libuv forks from
 * the event-loop thread, so the executor must live on the main thread, not in
 * a worker_thread that may end before the daemon. A daemon dying in the
 * instant between spawn and setpriv's prctl() leaves the task running; the
 * pid file lets cleanupOrphans() catch that case on restart.
 */
export function withDeathSignal(setpriv: string | null, file: string, args: string[]): { file: string; args: string[] } {
  if (!setpriv) return { file, args };
  return { file: setpriv, args: ['--pdeathsig', 'SIGKILL', '--', file, ...args] };
}
