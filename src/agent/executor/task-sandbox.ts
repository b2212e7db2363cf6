import type { Task } from '../../model/types';

/** argv of a process to spawn. */
export interface Argv {
  file: string;
  args: string[];
}

/** A task's own network, set up before its process starts and torn down after it ends. */
export interface TaskSandbox {
  /** Builds the task's network; resolves with how to start a command inside it. Throws with the reason. */
  prepare(task: Task): Promise<{ wrap(argv: Argv): Argv }>;
  /** Removes the task's network; never throws. */
  release(task: Task): Promise<void>;
}
