import type { Logger } from 'pino';
import type { Counter, Registry } from 'prom-client';
import { counter } from '../../metrics/registry';
import { systemTimers, type TimerHandle, type Timers } from '../../model/clock';
import type { HealthCheck } from '../../model/types';
import { afterProbe, initialHealth, type HealthState, type HealthStatus } from './health-state';
import type { Prober, ProbeTarget } from './probe';

/** Side effects of a health checker. */
export interface HealthCheckerDeps {
  now: () => number;
  probe: Prober;
  logger: Logger;
  /** Where the probe counter is registered; none in tests that do not look. */
  registry?: Registry;
  /** The timer between probes [Node's]; tests pass a fake clock. */
  timers?: Timers;
}

/** Which task a checker watches and how. */
export interface HealthCheckerOptions {
  taskId: string;
  check: HealthCheck;
  /** When the task's process started (the start period counts from here). */
  startedAt: number;
  /** Looked up before every probe; undefined once the task is gone, which ends the checker. */
  target: () => ProbeTarget | undefined;
  /** Called each time the status changes (not for the initial `starting`). */
  onChange: (status: HealthStatus, output: string) => void;
}

const PROBES_METRIC = 'shoal_agent_health_probes_total';

/** The probe counter, shared by every checker on a registry (registered once). */
function probeCounter(registry: Registry | undefined): Counter<'kind' | 'result'> | undefined {
  if (!registry) return undefined;
  return counter(registry, {
    name: PROBES_METRIC,
    help: 'Health probes run on task processes, by kind (cmd, http, tcp) and result (ok, fail)',
    labelNames: ['kind', 'result'],
  });
}

/**
 * The shell around the health state machine for one running task: sleeps
 * until the next probe is due, runs it, feeds the result to afterProbe() and
 * reports status changes. The pure rules live in health-state.ts.
 */
export class HealthChecker {
  private state: HealthState;
  private timer: TimerHandle | null = null;
  private stopped = true;
  private readonly probes: Counter<'kind' | 'result'> | undefined;
  private readonly timers: Timers;

  constructor(
    private readonly deps: HealthCheckerDeps,
    private readonly options: HealthCheckerOptions,
  ) {
    this.state = initialHealth(options.check, options.startedAt);
    this.probes = probeCounter(deps.registry);
    this.timers = deps.timers ?? systemTimers;
  }

  /** The current status: `starting` until the first success. */
  get status(): HealthStatus {
    return this.state.status;
  }

  /** Start probing; safe twice. */
  run(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stop probing (a probe under way finishes but is not reported); safe twice. */
  stop(): void {
    this.stopped = true;
    if (this.timer) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    const wait = Math.max(0, this.state.nextProbeAt - this.deps.now());
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      void this.probeOnce();
    }, wait);
  }

  private async probeOnce(): Promise<void> {
    const target = this.options.target();
    if (this.stopped || !target) return;
    const { check, taskId } = this.options;
    const result = await this.deps.probe(check, target);
    if (this.stopped) return;
    this.probes?.inc({ kind: check.kind, result: result.ok ? 'ok' : 'fail' });
    const before = this.state.status;
    this.state = afterProbe(this.state, check, result.ok, this.deps.now());
    if (!result.ok) this.deps.logger.debug({ taskId, output: result.output, failingStreak: this.state.failingStreak }, 'health probe failed');
    if (this.state.status !== before) {
      this.deps.logger.info({ taskId, health: this.state.status, output: result.output }, 'task health changed');
      this.options.onChange(this.state.status, result.output);
    }
    this.schedule();
  }
}
