import type { Prober } from './probe-types';
import { cmdProbe } from './cmd-probe';
import { httpProbe } from './http-probe';
import { tcpProbe } from './tcp-probe';

export type { ProbeResult, ProbeTarget, Prober } from './probe-types';

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
