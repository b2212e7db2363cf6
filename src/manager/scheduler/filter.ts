/**
 * Scheduler filters: small named objects the pipeline tries in order,
 * readiness first (swarmkit `filter.go`). Each says whether it applies to a
 * task, whether a node passes, and how to explain the nodes it rejected.
 */
import type { Constraint, Service, Task } from '../../model/types';
import { hostPortKeys } from './node-info';
import type { NodeInfo } from './node-info';
import { matchConstraints, parseConstraints } from './constraint';

/** One reason a node may not take a task. */
export interface Filter {
  readonly name: string;
  /** Prepare for a task; false means the filter does not apply to it and is skipped. */
  setTask(task: Task, service: Service): boolean;
  /** Whether the node passes for the task given to setTask. */
  check(node: NodeInfo): boolean;
  /** Human explanation for `count` rejected nodes, e.g. `2 nodes not ready`. */
  explain(count: number): string;
}

/** `1 node` / `3 nodes`. */
export function nodeCount(count: number): string {
  return count === 1 ? '1 node' : `${count} nodes`;
}

/** Rejects nodes whose heartbeats say they are not ready. */
export class ReadyFilter implements Filter {
  readonly name = 'ReadyFilter';
  setTask(): boolean {
    return true;
  }
  check(node: NodeInfo): boolean {
    return node.node.status.state === 'ready';
  }
  explain(count: number): string {
    return `${nodeCount(count)} not ready`;
  }
}

/** Rejects nodes an operator paused or drained. */
export class AvailabilityFilter implements Filter {
  readonly name = 'AvailabilityFilter';
  setTask(): boolean {
    return true;
  }
  check(node: NodeInfo): boolean {
    return node.node.availability === 'active';
  }
  explain(count: number): string {
    return `${nodeCount(count)} not available for new tasks`;
  }
}

/** Rejects nodes that do not satisfy the task's placement constraints. */
export class ConstraintFilter implements Filter {
  readonly name = 'ConstraintFilter';
  private constraints: Constraint[] = [];
  private invalid = false;

  setTask(task: Task): boolean {
    const exprs = task.spec.placement?.constraints ?? [];
    if (exprs.length === 0) return false;
    try {
      this.constraints = parseConstraints(exprs);
      this.invalid = false;
    } catch {
      // The API validates specs, so this is a stored spec from an older or
      // foreign writer: place nothing rather than ignore the operator's intent.
      this.constraints = [];
      this.invalid = true;
    }
    return true;
  }
  check(node: NodeInfo): boolean {
    return !this.invalid && matchConstraints(this.constraints, node.node);
  }
  explain(count: number): string {
    return `${nodeCount(count)} did not satisfy constraints`;
  }
}

/** Rejects nodes where a host-mode published port of the service is already held by a live task. */
export class HostPortFilter implements Filter {
  readonly name = 'HostPortFilter';
  private ports: string[] = [];
  /** Ports that caused rejections, so the explanation names the culprit, not every port. */
  private readonly busy = new Set<string>();

  setTask(_task: Task, service: Service): boolean {
    this.ports = hostPortKeys(service);
    this.busy.clear();
    return this.ports.length > 0;
  }
  check(node: NodeInfo): boolean {
    let free = true;
    for (const p of this.ports) {
      if (node.usedHostPorts.has(p)) {
        this.busy.add(p);
        free = false;
      }
    }
    return free;
  }
  explain(count: number): string {
    const ports = [...this.busy].map(displayPort);
    if (ports.length === 0) ports.push(...this.ports.map(displayPort));
    const noun = ports.length === 1 ? 'port' : 'ports';
    return `${nodeCount(count)} had no ${noun} ${ports.join(', ')} free`;
  }
}

// portKey is `tcp/8080`; operators read ports as Docker prints them, `8080/tcp`.
function displayPort(key: string): string {
  const [proto, port] = key.split('/');
  return `${port}/${proto}`;
}

/** The filters a scheduler runs, in order: cheapest and most telling first. */
export function defaultFilters(): Filter[] {
  return [new ReadyFilter(), new AvailabilityFilter(), new ConstraintFilter(), new HostPortFilter()];
}
