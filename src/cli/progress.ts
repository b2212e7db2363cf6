import type { ApiClient } from '../api/client';
import { ShoalError } from '../errors';
import { isDirty } from '../manager/orchestrator/update/dirty';
import { isReady } from '../manager/orchestrator/update/readiness';
import { stateRank, type Service, type Task, type TaskState } from '../model/types';

/** What the CLI is waiting for. */
export type ProgressAction = 'create' | 'update' | 'rollback' | 'scale';

/** Where and how progress is drawn. */
export interface ProgressOptions {
  out: NodeJS.WritableStream;
  /** Redraw bars in place (a terminal), or print plain lines on change. */
  tty: boolean;
  pollMs?: number;
  now?: () => number;
}

const POLL_MS = 250;
const BAR_WIDTH = 50;
/** States a task walks through on its way to running, for the bar (Docker's order). */
const BAR_STATES: TaskState[] = ['new', 'pending', 'assigned', 'accepted', 'preparing', 'starting', 'running'];

/** Whether a task runs the service's current spec (what `service update` waits for). */
export function runsCurrentSpec(task: Task, service: Service): boolean {
  return !isDirty(task, service);
}

/** One line of progress: a slot (replicated) or a node (global). */
interface Line {
  label: string;
  state: TaskState | 'complete' | '';
  done: boolean;
}

/** Work out per-slot progress and whether the service converged. */
export function progressOf(service: Service, tasks: Task[]): { lines: Line[]; done: number; total: number } {
  const mine = tasks.filter((t) => t.serviceId === service.id);
  const mode = service.spec.mode;
  const lines: Line[] = [];
  if (mode === 'replicated' || mode === 'replicated-job') {
    const n = service.spec.replicas;
    if (mode === 'replicated-job') {
      const completed = mine.filter((t) => t.status.state === 'complete' && runsCurrentSpec(t, service)).length;
      for (let i = 1; i <= n; i++) lines.push({ label: `${i}/${n}`, state: i <= completed ? 'complete' : '', done: i <= completed });
      return { lines, done: Math.min(completed, n), total: n };
    }
    for (let slot = 1; slot <= n; slot++) {
      const current = mine
        .filter((t) => t.slot === slot && t.desiredState === 'running')
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
      const done = !!current && isReady(current) && runsCurrentSpec(current, service);
      lines.push({ label: `${slot}/${n}`, state: current?.status.state ?? '', done });
    }
  } else {
    const byNode = new Map<string, Task>();
    for (const t of mine) {
      if (t.desiredState !== 'running' && !(mode === 'global-job' && t.status.state === 'complete')) continue;
      const prev = byNode.get(t.nodeId);
      if (!prev || prev.createdAt < t.createdAt) byNode.set(t.nodeId, t);
    }
    for (const [nodeId, t] of [...byNode].sort()) {
      const done =
        mode === 'global-job'
          ? t.status.state === 'complete'
          : isReady(t) && runsCurrentSpec(t, service);
      lines.push({ label: nodeId.slice(0, 12), state: t.status.state, done });
    }
  }
  return { lines, done: lines.filter((l) => l.done).length, total: lines.length };
}

function bar(state: Line['state']): string {
  if (state === 'complete') return `[${'='.repeat(BAR_WIDTH)}>]`;
  const i = state ? Math.max(0, BAR_STATES.indexOf(state as TaskState)) : 0;
  const filled = state && stateRank(state as TaskState) >= stateRank('running') ? BAR_WIDTH : Math.round((i / (BAR_STATES.length - 1)) * BAR_WIDTH);
  return `[${'='.repeat(filled)}>${' '.repeat(BAR_WIDTH - filled)}]`;
}

/**
 * Wait until the service converges, drawing Docker-style progress
 * (`overall progress: 4 out of 6 tasks`, one bar per slot, `verify: Service
 * converged`). A paused update or rollback throws with its reason.
 */
export async function waitForConvergence(client: ApiClient, serviceId: string, action: ProgressAction, options: ProgressOptions): Promise<void> {
  const pollMs = options.pollMs ?? POLL_MS;
  let drawn = 0;
  let lastPlain = '';
  let rollbackNoted = false;
  for (;;) {
    const [service, tasks] = await Promise.all([
      client.call<Service>('GET', `/v1/services/${serviceId}`),
      client.call<Task[]>('GET', `/v1/tasks?service=${serviceId}`),
    ]);
    const us = service.updateStatus;
    if (us && (us.state === 'paused' || us.state === 'rollback_paused')) {
      throw new ShoalError(`${us.state === 'paused' ? 'update paused' : 'rollback paused'}: ${us.message}`);
    }
    if (action === 'update' && us && us.state.startsWith('rollback') && !rollbackNoted) {
      rollbackNoted = true;
      options.out.write(`rollback: ${us.message}\n`);
    }
    const p = progressOf(service, tasks);
    const heading = `overall progress: ${p.done} out of ${p.total} tasks`;
    if (options.tty) {
      const block = [heading, ...p.lines.map((l) => `${l.label}: ${(l.state || '').padEnd(9)} ${bar(l.state)}`)];
      options.out.write((drawn > 0 ? `\x1b[${drawn}A` : '') + block.map((l) => `\x1b[2K${l}\n`).join(''));
      drawn = block.length;
    } else if (heading !== lastPlain) {
      options.out.write(heading + '\n');
      lastPlain = heading;
    }
    const updateDone = !us || us.state === 'completed' || us.state === 'rollback_completed';
    if (p.done === p.total && updateDone) {
      if (rollbackNoted && us?.state === 'rollback_completed') {
        options.out.write('verify: Service converged\n');
        throw new ShoalError(`update rolled back: ${us.message}`);
      }
      options.out.write(service.spec.mode.endsWith('-job') ? 'job complete\n' : 'verify: Service converged\n');
      return;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
