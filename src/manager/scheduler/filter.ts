/**
 * Scheduler filters: small named objects the pipeline tries in order,
 * readiness first (swarmkit `filter.go`). Each says whether it applies to a
 * task, whether a node passes, and how to explain the nodes it rejected.
 */
import type { Constraint, Service, Task } from '../../model/types';
import { hostPortKeys } from './node-info';
import type { NodeInfo } from './node-info';
import { matchConstraints, parseConstraints } from '../../spec/constraint';
import { formatCpus, formatMemory } from '../../spec/resources';

/** One reason a node may not take a task. */
export interface Filter {
  readonly name: string;
  /** Whether placing a task on a node can change the verdict (ports, resources, replica counts). */
  readonly dependsOnLoad: boolean;
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
  readonly dependsOnLoad = false;
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
  readonly dependsOnLoad = false;
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
  readonly dependsOnLoad = false;
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
  readonly dependsOnLoad = true;
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

/** Rejects nodes with less of one resource unreserved than the task reserves. */
abstract class ReservationFilter implements Filter {
  abstract readonly name: string;
  readonly dependsOnLoad = true;
  protected wanted = 0;

  constructor(
    private readonly resource: 'memoryBytes' | 'nanoCpus',
    private readonly lacked: (wanted: number) => string,
  ) {}

  setTask(task: Task): boolean {
    this.wanted = task.spec.resources?.reservations?.[this.resource] ?? 0;
    return this.wanted > 0;
  }
  check(node: NodeInfo): boolean {
    return node.available[this.resource] >= this.wanted;
  }
  explain(count: number): string {
    return `${nodeCount(count)} lacked ${this.lacked(this.wanted)}`;
  }
}

/** `--reserve-memory`: nodes whose unreserved memory is less than the task reserves. */
export class MemoryFilter extends ReservationFilter {
  readonly name = 'MemoryFilter';
  constructor() {
    super('memoryBytes', (b) => `${formatMemory(b)} memory`);
  }
}

/** `--reserve-cpu`: nodes whose unreserved CPUs are fewer than the task reserves. */
export class CpuFilter extends ReservationFilter {
  readonly name = 'CpuFilter';
  constructor() {
    super('nanoCpus', formatCpus);
  }
}

/** Rejects nodes that already run `--replicas-max-per-node` tasks of the service (swarmkit `MaxReplicasFilter`). */
export class MaxReplicasFilter implements Filter {
  readonly name = 'MaxReplicasFilter';
  readonly dependsOnLoad = true;
  private serviceId = '';
  private max = 0;

  setTask(task: Task): boolean {
    this.serviceId = task.serviceId;
    this.max = task.spec.placement?.maxReplicas ?? 0;
    return this.max > 0;
  }
  check(node: NodeInfo): boolean {
    return node.serviceTasks(this.serviceId) < this.max;
  }
  explain(count: number): string {
    // swarmkit's words, so operators who search for Docker's message find this one.
    return `${nodeCount(count)} had max replicas per node limit exceeded`;
  }
}

// portKey is `tcp/8080`; operators read ports as Docker prints them, `8080/tcp`.
function displayPort(key: string): string {
  const [proto, port] = key.split('/');
  return `${port}/${proto}`;
}

/**
 * The filters a scheduler runs, in order: cheapest and most telling first.
 * What the node is (ready, available, matching) comes before what it holds
 * (ports, resources, replicas), so a node is blamed for the lasting reason.
 */
export function defaultFilters(): Filter[] {
  return [
    new ReadyFilter(),
    new AvailabilityFilter(),
    new ConstraintFilter(),
    new HostPortFilter(),
    new MemoryFilter(),
    new CpuFilter(),
    new MaxReplicasFilter(),
  ];
}

/**
 * The filters for a task born bound to its node (global): the node is given,
 * so what is checked is whether it takes the task now. Host ports are not:
 * the global orchestrator keeps one task of the service per node, and the
 * port a predecessor is still releasing is the agent's to wait for.
 */
export function boundFilters(): Filter[] {
  return [new ReadyFilter(), new AvailabilityFilter(), new ConstraintFilter(), new MemoryFilter(), new CpuFilter()];
}
