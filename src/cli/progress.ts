import type { ApiClient } from '../api/client';
import { NotConvergedError } from '../errors';
import { stateRank, type Service, type Task, type TaskState } from '../model/types';
import { progressOf, stableAt, stableMsOf, type Progress, type ProgressLine } from './progress-view';

/** What the CLI is waiting for. */
export type ProgressAction = 'create' | 'update' | 'rollback' | 'scale';

/** Where and how progress is drawn. */
export interface ProgressOptions {
  out: NodeJS.WritableStream;
  /** Redraw bars in place (a terminal), or print plain lines on change. */
  tty: boolean;
  pollMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const POLL_MS = 250;
const BAR_WIDTH = 50;
/** Longest error text on a terminal's progress line; the rest is in `service ps --no-trunc`. */
const TTY_ERROR_WIDTH = 100;
/** States a task walks through on its way to running, for the bar (Docker's order). */
const BAR_STATES: TaskState[] = ['new', 'pending', 'assigned', 'accepted', 'preparing', 'starting', 'running'];

function bar(state: ProgressLine['state']): string {
  if (state === 'complete') return `[${'='.repeat(BAR_WIDTH)}>]`;
  const i = state ? Math.max(0, BAR_STATES.indexOf(state as TaskState)) : 0;
  const filled = state && stateRank(state as TaskState) >= stateRank('running') ? BAR_WIDTH : Math.round((i / (BAR_STATES.length - 1)) * BAR_WIDTH);
  return `[${'='.repeat(filled)}>${' '.repeat(BAR_WIDTH - filled)}]`;
}

/** A slot's line on a terminal: its bar, or in its place its error, as Docker draws a failing slot. */
function ttyLine(l: ProgressLine): string {
  if (l.err && !l.done) return `${l.label}: ${l.err.length > TTY_ERROR_WIDTH ? l.err.slice(0, TTY_ERROR_WIDTH - 1) + '…' : l.err}`;
  return `${l.label}: ${(l.state || '').padEnd(9)} ${bar(l.state)}`;
}

/** A slot's line in a log (not a terminal): `web.3: failed: task: non-zero exit (1): Error: ...`. */
function plainLine(l: ProgressLine): string {
  return `${l.name}: ${l.state || 'no task'}${l.err && !l.done ? `: ${l.err}` : ''}`;
}

/**
 * Wait until the service converges, drawing Docker-style progress
 * (`overall progress: 4 out of 6 tasks`, one line per slot with its state or
 * its latest error, `verify: Service converged` once every task stayed up for
 * the update monitor period). Throws NotConvergedError when an update or
 * rollback pauses, when an update was rolled back, and when every slot failed
 * GIVE_UP_FAILURES times with none running; the service stays as it is.
 */
export async function waitForConvergence(client: ApiClient, serviceId: string, action: ProgressAction, options: ProgressOptions): Promise<void> {
  const pollMs = options.pollMs ?? POLL_MS;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let drawn = 0;
  let lastHeading = '';
  const lastPlain = new Map<string, string>();
  let rollbackNoted = false;
  let verifyLine = '';
  let verifyPrinted = false;
  for (;;) {
    const [service, tasks] = await Promise.all([
      client.call<Service>('GET', `/v1/services/${serviceId}`),
      client.call<Task[]>('GET', `/v1/tasks?service=${serviceId}`),
    ]);
    const us = service.updateStatus;
    if (us && (us.state === 'paused' || us.state === 'rollback_paused')) {
      throw new NotConvergedError(`${us.state === 'paused' ? 'update paused' : 'rollback paused'}: ${us.message}`);
    }
    if (action === 'update' && us && us.state.startsWith('rollback') && !rollbackNoted) {
      rollbackNoted = true;
      options.out.write(`rollback: ${us.message}\n`);
    }
    const p = progressOf(service, tasks);
    const updateDone = !us || us.state === 'completed' || us.state === 'rollback_completed';
    const converging = p.done === p.total && updateDone;
    const waitMs = converging ? stableAt(p, service.spec.mode.endsWith('-job') ? 0 : stableMsOf(service)) - now() : 0;
    // Docker's wording; the tasks must stay up this long, or the wait goes on.
    if (converging && waitMs > 0 && !verifyLine) verifyLine = `verify: Waiting ${Math.ceil(waitMs / 1000)} seconds to verify that tasks are stable...`;
    const heading = `overall progress: ${p.done} out of ${p.total} tasks`;
    if (options.tty) {
      const block = [heading, ...p.lines.map(ttyLine), ...(verifyLine ? [verifyLine] : [])];
      options.out.write((drawn > 0 ? `\x1b[${drawn}A` : '') + block.map((l) => `\x1b[2K${l}\n`).join(''));
      drawn = block.length;
    } else {
      writePlain(options.out, heading, p, lastPlain, lastHeading);
      lastHeading = heading;
      if (verifyLine && !verifyPrinted) options.out.write(verifyLine + '\n');
      verifyPrinted = !!verifyLine;
    }
    if (p.hopeless) throw new NotConvergedError(p.hopeless);
    if (converging && waitMs <= 0) return finish(options.out, service, rollbackNoted);
    await sleep(converging ? Math.min(pollMs * 4, waitMs) : pollMs);
  }
}

function finish(out: NodeJS.WritableStream, service: Service, rollbackNoted: boolean): void {
  const us = service.updateStatus;
  if (rollbackNoted && us?.state === 'rollback_completed') {
    out.write('verify: Service converged\n');
    throw new NotConvergedError(`update rolled back: ${us.message}`);
  }
  out.write(service.spec.mode.endsWith('-job') ? 'job complete\n' : 'verify: Service converged\n');
}

/** Prints, for a log, the heading when it changes and each slot's line when its state or error changes. */
function writePlain(out: NodeJS.WritableStream, heading: string, p: Progress, last: Map<string, string>, lastHeading: string): void {
  if (heading !== lastHeading) out.write(heading + '\n');
  for (const l of p.lines) {
    // Only slots with something to say: an error, or a change once one had said something.
    const text = plainLine(l);
    if (last.get(l.name) === text || (!l.err && !last.has(l.name))) continue;
    last.set(l.name, text);
    out.write(text + '\n');
  }
}
