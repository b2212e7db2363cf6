import net from 'node:net';

/** How often a task's TCP ports are tried while it starts. */
export const PORT_POLL_MS = 25;
/** A task whose ports never open is reported running after this long anyway (it may serve no TCP at all). */
export const PORT_READY_TIMEOUT_MS = 30_000;

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

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
    for (const p of [...pending]) if (await accepts(host, p)) pending.delete(p);
    if (pending.size === 0) break;
    if (Date.now() > deadline) return 'timeout';
    await new Promise((r) => setTimeout(r, options.pollMs ?? PORT_POLL_MS));
  }
  return options.gone() ? 'gone' : 'ready';
}
