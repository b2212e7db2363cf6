/** What the executor is given to run a task and what it reports of the task's process. */
import type { Task } from '../../model/types';

/** What the executor needs to run one task. */
export interface TaskRunContext {
  task: Task;
  nodeId: string;
  /** "ip:port" of the node's DNS server, given to the task as SHOAL_DNS. */
  dnsAddress: string;
}

/** A change in a task's process, for the agent to report as task status. */
export interface TaskEvent {
  taskId: string;
  state: 'starting' | 'running' | 'complete' | 'failed' | 'shutdown';
  message: string;
  exitCode?: number;
  pid?: number;
  ports?: Record<string, number>;
}

/** The environment a task's process runs with, so a health command can run alongside it. */
export interface TaskExecEnvironment {
  env: Record<string, string>;
  cwd: string;
}
