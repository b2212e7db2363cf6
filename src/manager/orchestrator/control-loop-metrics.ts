/** What the control loop reports: tasks by state, scheduling decisions and their latency, update status changes. */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram } from '../../metrics/registry';

/** The control loop's metrics. */
export interface ControlLoopMetrics {
  tasks: Gauge;
  decisions: Counter;
  latency: Histogram;
  updateStates: Counter;
}

/** Register the control loop's metrics on `registry`. */
export function controlLoopMetrics(registry: Registry): ControlLoopMetrics {
  return {
    tasks: gauge(registry, { name: 'shoal_tasks', help: 'Tasks by current state, as the manager sees them', labelNames: ['state'] }),
    decisions: counter(registry, {
      name: 'shoal_scheduler_decisions_total',
      help: 'Scheduling decisions by result',
      labelNames: ['result'],
    }),
    latency: histogram(registry, {
      name: 'shoal_scheduler_latency_seconds',
      help: 'Time one scheduler run takes to decide',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    }),
    updateStates: counter(registry, {
      name: 'shoal_updater_status_changes_total',
      help: 'Update status changes the updater wrote, by new state',
      labelNames: ['state'],
    }),
  };
}
