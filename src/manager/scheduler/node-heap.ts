/**
 * The spread strategy as a priority queue: nodes the service keeps failing
 * on last, then the node with the fewest tasks of the service being placed,
 * then the fewest tasks overall, then the lowest id (swarmkit's `nodeLess`).
 * Placing a task only changes the node just taken, so pop, place and push
 * back keep the order in O(log n) instead of rescanning every node.
 */
import type { NodeInfo } from './node-info';
import { siftDown, siftUp } from './binary-heap';

// Keys are read once per push: comparisons run millions of times per pass and
// must not go through NodeInfo's maps.
interface Entry {
  info: NodeInfo;
  avoided: boolean;
  serviceTasks: number;
  activeTasks: number;
}

function before(a: Entry, b: Entry): boolean {
  if (a.avoided !== b.avoided) return b.avoided;
  if (a.serviceTasks !== b.serviceTasks) return a.serviceTasks < b.serviceTasks;
  if (a.activeTasks !== b.activeTasks) return a.activeTasks < b.activeTasks;
  return a.info.id < b.info.id;
}

/** Min-heap of candidate nodes for one service, least loaded first. */
export class NodeHeap {
  private readonly items: Entry[] = [];

  /** `failureKey` is the service's `versionKey`: nodes it failed on too often sort last. */
  constructor(
    private readonly serviceId: string,
    nodes: Iterable<NodeInfo> = [],
    private readonly failureKey = '',
  ) {
    for (const n of nodes) this.items.push(this.entry(n));
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /** Candidates left. */
  get size(): number {
    return this.items.length;
  }

  /** Add a candidate (again, after its counts changed). */
  push(n: NodeInfo): void {
    this.items.push(this.entry(n));
    this.up(this.items.length - 1);
  }

  /** Take the best candidate, or undefined when none is left. */
  pop(): NodeInfo | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0];
    const last = items.pop() as Entry;
    if (items.length > 0) {
      items[0] = last;
      this.down(0);
    }
    return top.info;
  }

  private entry(info: NodeInfo): Entry {
    return {
      info,
      avoided: this.failureKey !== '' && info.avoidedFor(this.failureKey),
      serviceTasks: info.serviceTasks(this.serviceId),
      activeTasks: info.activeTasks,
    };
  }

  private up(i: number): void {
    siftUp(this.items, i, before);
  }

  private down(i: number): void {
    siftDown(this.items, i, before);
  }
}
