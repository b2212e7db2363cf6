/**
 * Runs the filters that apply to a task over nodes and remembers which
 * filter rejected how many, to tell the operator why nothing fits
 * (swarmkit `pipeline.go`).
 */
import type { Service, Task } from '../../model/types';
import { NO_SUITABLE_NODE } from '../../spec/pending';
import { defaultFilters } from './filter';
import type { Filter } from './filter';
import type { NodeInfo } from './node-info';


interface Check {
  filter: Filter;
  failures: number;
}

const EMPTY: readonly Check[] = [];

/** The ordered filter chain for one task at a time. */
export class Pipeline {
  private checks: Check[] = [];
  /** The subset of checks a placement can change the verdict of. */
  private loadChecks: readonly Check[] = EMPTY;

  constructor(private readonly filters: Filter[] = defaultFilters()) {}

  /** Select the filters relevant to this task and reset the rejection counts. */
  setTask(task: Task, service: Service): void {
    this.checks = [];
    for (const filter of this.filters) {
      if (filter.setTask(task, service)) this.checks.push({ filter, failures: 0 });
    }
    this.loadChecks = this.checks.filter((c) => c.filter.dependsOnLoad);
  }

  /** Whether the node passes every relevant filter; the first filter that fails is charged. */
  process(node: NodeInfo): boolean {
    for (const c of this.checks) {
      if (!c.filter.check(node)) {
        c.failures++;
        return false;
      }
    }
    return true;
  }

  /**
   * Process a node again after a task was placed on it: only the filters
   * that depend on the node's load can have changed their mind, so the
   * others are not asked (they run for every placement of a large pass).
   */
  recheck(node: NodeInfo): boolean {
    for (const c of this.loadChecks) {
      if (!c.filter.check(node)) {
        c.failures++;
        return false;
      }
    }
    return true;
  }

  /** `no suitable node (3 nodes not available for new tasks; 2 nodes had no port 8080/tcp free)`. */
  explain(): string {
    // Most common reason first, like swarmkit; the sort is stable so ties keep filter order.
    const parts = this.checks
      .filter((c) => c.failures > 0)
      .sort((a, b) => b.failures - a.failures)
      .map((c) => c.filter.explain(c.failures));
    return parts.length === 0 ? NO_SUITABLE_NODE : `${NO_SUITABLE_NODE} (${parts.join('; ')})`;
  }
}
