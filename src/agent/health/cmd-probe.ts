import * as child_process from 'node:child_process';
import type { ProbeResult } from './probe-types';

/** Output kept from a health command, as Docker keeps (maxOutputLen). */
export const PROBE_OUTPUT_MAX_BYTES = 4096;
/** Shell a single-string health command runs through, as Docker's CMD-SHELL does. */
export const PROBE_SHELL = '/bin/sh';

/**
 * Runs a health command (argv; a single string runs through `sh -c`) with the
 * task's environment and working directory: exit 0 is healthy. It runs in a
 * process group of its own so that on timeout the whole group is killed, not
 * just the shell, and a stuck probe cannot pile up behind the next one.
 */
export function cmdProbe(command: string[], env: Record<string, string>, cwd: string, timeoutMs: number): Promise<ProbeResult> {
  if (command.length === 0) return Promise.resolve({ ok: false, output: 'health check: no command given' });
  const [file, ...args] = command.length === 1 ? [PROBE_SHELL, '-c', command[0]] : command;
  return new Promise((resolve) => {
    let output = '';
    let settled = false;
    const settle = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    let child: child_process.ChildProcess;
    try {
      child = child_process.spawn(file, args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      return resolve({ ok: false, output: `health check: ${(err as Error).message}` });
    }
    const keep = (chunk: Buffer) => {
      if (output.length < PROBE_OUTPUT_MAX_BYTES) output = (output + chunk.toString('utf8')).slice(0, PROBE_OUTPUT_MAX_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const timer = setTimeout(() => {
      killGroup(child.pid);
      settle({ ok: false, output: `health check timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    child.once('error', (err) => settle({ ok: false, output: `health check: ${err.message}` }));
    // 'close' (not 'exit') so the output is complete; a grandchild holding the pipes is killed with the group.
    child.once('close', (code, signal) => {
      killGroup(child.pid);
      if (code === 0) settle({ ok: true, output });
      else settle({ ok: false, output: output || (signal ? `killed by signal ${signal}` : `exit status ${code}`) });
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is gone already.
  }
}
