import type { TaskRunContext } from './task-run';

/**
 * Inherited variables a task must not see: the daemon's own `SHOAL_*`
 * settings would be mistaken for facts about the task, and a stray `PORT`
 * would contradict the port the task was given.
 */
function isDaemonOnly(name: string): boolean {
  return name.startsWith('SHOAL_') || name === 'PORT';
}

/**
 * The environment of a task's process: the daemon's environment (minus its
 * own settings), then the spec's env, then the facts shoal injects, which win
 * so that `PORT` always matches the port reported in the task status.
 * `listenPorts` maps each target port number to the port the task listens on.
 */
export function taskEnvironment(
  inherited: NodeJS.ProcessEnv,
  ctx: TaskRunContext,
  listenPorts: Map<number, number>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(inherited)) {
    if (v !== undefined && !isDaemonOnly(k)) env[k] = v;
  }
  Object.assign(env, ctx.task.spec.env);
  const { task } = ctx;
  const first = task.targetPorts[0];
  if (first) env.PORT = String(listenPorts.get(first.port));
  for (const [target, listen] of listenPorts) env[`SHOAL_PORT_${target}`] = String(listen);
  env.SHOAL_TASK_ADDR = task.address;
  env.SHOAL_TASK_ID = task.id;
  env.SHOAL_TASK_SLOT = String(task.slot);
  env.SHOAL_SERVICE_NAME = task.serviceName;
  env.SHOAL_SERVICE_ID = task.serviceId;
  env.SHOAL_NODE_ID = ctx.nodeId;
  env.SHOAL_DNS = ctx.dnsAddress;
  return env;
}
