import type { HealthCheck } from '../../model/types';
import { cmdProbe } from './cmd-probe';
import { httpProbe } from './http-probe';
import { tcpProbe } from './tcp-probe';

/** Outcome of one probe: healthy or not, and a short text saying why (logged, like Docker's probe output). */
export interface ProbeResult {
  ok: boolean;
  output: string;
}

/** What a probe needs to know about the running task. */
export interface ProbeTarget {
  /** Address the task listens on. */
  address: string;
  /** Port the task listens on for its first target port; undefined when it has none. */
  port: number | undefined;
  /** The task's environment, exactly as the executor gave it to the process. */
  env: Record<string, string>;
  /** The task's working directory. */
  cwd: string;
}

/** Runs one probe of a check against a task; never rejects, and settles within the check's timeout. */
export type Prober = (check: HealthCheck, target: ProbeTarget) => Promise<ProbeResult>;

/** The real prober: a command in the task's environment, an HTTP GET or a TCP connect. */
export const runProbe: Prober = async (check, target) => {
  try {
    if (check.kind === 'cmd') return await cmdProbe(check.command ?? [], target.env, target.cwd, check.timeoutMs);
    if (target.port === undefined) return { ok: false, output: `${check.kind} health check: the task has no target port` };
    if (check.kind === 'http') return await httpProbe(target.address, target.port, check.path ?? '/', check.timeoutMs);
    return await tcpProbe(target.address, target.port, check.timeoutMs);
  } catch (err) {
    return { ok: false, output: `health check failed to run: ${(err as Error).message}` };
  }
};
