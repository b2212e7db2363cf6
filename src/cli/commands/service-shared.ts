/** What the `service` subcommands share: the service a name means, and waiting for it to converge. */
import type { Command } from 'commander';
import type { ApiClient } from '../../api/client';
import type { Service } from '../../model/types';
import type { GlobalFlags } from '../context';
import { waitForConvergence, type ProgressAction } from '../progress';

/** The CLI's global flags, read when a command runs. */
export type Globals = () => GlobalFlags;

/** A service by id, name or unique id prefix (the manager resolves it). */
export function getService(client: ApiClient, name: string): Promise<Service> {
  return client.call<Service>('GET', `/v1/services/${encodeURIComponent(name)}`);
}

/** Wait for the service to converge, printing progress, unless detached. */
export function progress(client: ApiClient, id: string, action: ProgressAction, detach?: boolean): Promise<void> {
  return detach ? Promise.resolve() : waitForConvergence(client, id, action, { out: process.stdout, tty: !!process.stdout.isTTY });
}

/** The flags `create` and `update` both take: restart, health, resources, load balancing, update and rollback config. */
export function addSpecFlags(c: Command): Command {
  return c
    .option('--restart-condition <condition>', 'Restart when condition is met ("none", "on-failure", "any")')
    .option('--restart-delay <duration>', 'Delay between restart attempts (ns|us|ms|s|m|h)')
    .option('--restart-max-attempts <n>', 'Maximum number of restarts before giving up')
    .option('--restart-window <duration>', 'Window used to evaluate the restart policy')
    .option('--stop-grace-period <duration>', 'Time to wait before force killing a task (default 10s)')
    .option('-w, --workdir <dir>', 'Working directory of the task process')
    .option('--health-cmd <command>', 'Command to run to check health (run with sh -c in the task environment)')
    .option('--health-http <path>', 'HTTP GET this path on the task port to check health (2xx/3xx = healthy)')
    .option('--health-tcp', 'Check health by connecting to the task port')
    .option('--health-interval <duration>', 'Time between running the check (default 30s)')
    .option('--health-timeout <duration>', 'Maximum time to allow one check to run (default 30s)')
    .option('--health-retries <n>', 'Consecutive failures needed to report unhealthy (default 3)')
    .option('--health-start-period <duration>', 'Start period for the task to initialize before failures count (default 0s)')
    .option('--no-healthcheck', 'Disable any health check')
    .option('--replicas-max-per-node <n>', 'Maximum number of tasks per node (default 0 = unlimited)')
    .option('--reserve-cpu <cpus>', 'Reserve CPUs')
    .option('--reserve-memory <bytes>', 'Reserve memory (e.g. 512M)')
    .option('--limit-cpu <cpus>', 'Limit CPUs')
    .option('--limit-memory <bytes>', 'Limit memory (e.g. 512M)')
    .option('--max-concurrent <n>', 'Number of job tasks to run concurrently (default equal to --replicas)')
    .option('--lb-policy <policy>', 'Load-balancing policy ("round-robin", "least-connections", "source-hash")')
    .option('--lb-affinity-timeout <duration>', 'source-hash: how long a client keeps its task after its last connection (default 3h)')
    .option('--idle-timeout <duration>', 'Close TCP connections idle this long (default: never)')
    .option('--max-connections <n>', 'Open connections per published port on each node (default 0 = unlimited)')
    .option('--max-connections-per-backend <n>', 'Open connections per task from each node (default 0 = unlimited)')
    .option('--update-parallelism <n>', 'Maximum number of tasks updated simultaneously (0 to update all at once)')
    .option('--update-delay <duration>', 'Delay between updates (ns|us|ms|s|m|h)')
    .option('--update-failure-action <action>', 'Action on update failure ("pause", "continue", "rollback")')
    .option('--update-monitor <duration>', 'Duration after each task update to monitor for failure (default 5s)')
    .option('--update-max-failure-ratio <ratio>', 'Failure rate to tolerate during an update')
    .option('--update-order <order>', 'Update order ("start-first", "stop-first")')
    .option('--rollback-parallelism <n>', 'Maximum number of tasks rolled back simultaneously (0 to roll back all at once)')
    .option('--rollback-delay <duration>', 'Delay between task rollbacks')
    .option('--rollback-failure-action <action>', 'Action on rollback failure ("pause", "continue")')
    .option('--rollback-monitor <duration>', 'Duration after each task rollback to monitor for failure')
    .option('--rollback-max-failure-ratio <ratio>', 'Failure rate to tolerate during a rollback')
    .option('--rollback-order <order>', 'Rollback order ("start-first", "stop-first")');
}
