import * as net from 'node:net';
import { probeWithin } from './probe-deadline';
import type { ProbeResult } from './probe-types';

/** Connects to the task's address and port; healthy when the connection opens within the timeout. */
export function tcpProbe(address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return probeWithin(timeoutMs, (settle) => {
    const socket = net.connect({ host: address, port });
    socket.once('connect', () => settle({ ok: true, output: `connected to ${address}:${port}` }));
    socket.once('error', (err) => settle({ ok: false, output: err.message }));
    return socket;
  });
}
