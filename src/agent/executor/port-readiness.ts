import { tcpProbe } from '../health/tcp-probe';

/** How often a task's TCP ports are tried while it starts. */
export const PORT_POLL_MS = 25;
/** A task whose ports never open is reported running after this long anyway (it may serve no TCP at all). */
export const PORT_READY_TIMEOUT_MS = 30_000;
/** One connect attempt; loopback answers at once, so this only bounds a wedged stack. */
const CONNECT_ATTEMPT_MS = 1_000;

/**
 * Wait until every TCP port accepts connections on the task's address, so
 * "running" means "serving": the mesh routes to a task, and start-first
 * updates retire the old one, only once it can take a connection.
 */
export async function waitForTcpPorts(
  host: string,
  ports: number[],
  options: { gone: () => boolean; timeoutMs?: number; pollMs?: number },
): Promise<'ready' | 'timeout' | 'gone'> {
  const deadline = Date.now() + (options.timeoutMs ?? PORT_READY_TIMEOUT_MS);
  const pending = new Set(ports);
  while (pending.size > 0) {
    if (options.gone()) return 'gone';
    for (const p of [...pending]) if ((await tcpProbe(host, p, CONNECT_ATTEMPT_MS)).ok) pending.delete(p);
    if (pending.size === 0) break;
    if (Date.now() > deadline) return 'timeout';
    await new Promise((r) => setTimeout(r, options.pollMs ?? PORT_POLL_MS));
  }
  return options.gone() ? 'gone' : 'ready';
}
