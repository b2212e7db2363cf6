/**
 * Runs iproute2's `ip`. For now the netns helpers shell out to `ip` because it
 * is simple and its errors are readable; moving to rtnetlink through the
 * `netlink` npm package is planned once the overlay needs it (issue 5).
 */
import { execFile, execFileSync } from 'node:child_process';
import { CommandFailedError } from '../errors';

/** How long one `ip` call may take before it is treated as hung. */
export const IP_COMMAND_TIMEOUT_MS = 10_000;

/** Runs `ip` with arguments; injected so tests and callers can wrap or fake it. */
export interface IpRunner {
  /** Runs `ip ...args`, resolving stdout; rejects with CommandFailedError carrying stderr. */
  run(args: readonly string[]): Promise<string>;
  /** Same, synchronously: only for process-exit cleanup where nothing async runs. */
  runSync(args: readonly string[]): string;
}

function failure(args: readonly string[], err: unknown, stderr: string): CommandFailedError {
  const detail = stderr.trim() || (err instanceof Error ? err.message : String(err));
  return new CommandFailedError(`ip ${args.join(' ')}: ${detail}`);
}

/** The real `ip` binary from PATH. */
export const systemIp: IpRunner = {
  run(args) {
    return new Promise((resolve, reject) => {
      execFile('ip', [...args], { timeout: IP_COMMAND_TIMEOUT_MS }, (err, stdout, stderr) => {
        if (err) reject(failure(args, err, String(stderr)));
        else resolve(String(stdout));
      });
    });
  },
  runSync(args) {
    try {
      return execFileSync('ip', [...args], { timeout: IP_COMMAND_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr;
      throw failure(args, err, stderr ? stderr.toString() : '');
    }
  },
};
