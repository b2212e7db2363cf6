import * as net from 'node:net';
import type { ProbeResult } from './probe-types';

/** Connects to the task's address and port; healthy when the connection opens within the timeout. */
export function tcpProbe(address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const socket = net.connect({ host: address, port });
    const timer = setTimeout(() => settle({ ok: false, output: `health check timed out after ${timeoutMs} ms` }), timeoutMs);
    socket.once('connect', () => settle({ ok: true, output: `connected to ${address}:${port}` }));
    socket.once('error', (err) => settle({ ok: false, output: err.message }));
  });
}
