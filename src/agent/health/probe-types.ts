/** What a health probe is given and what it answers, shared by the prober and each kind of probe. */
import type { HealthCheck } from '../../model/types';

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
