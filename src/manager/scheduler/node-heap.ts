/**
 * The spread strategy as a priority queue: the node with the fewest tasks of
 * the service being placed, then the fewest tasks overall, then the lowest
 * id. Placing a task only changes the node just taken, so pop, place and push
 * back keep the order in O(log n) instead of rescanning every node.
 */
import type { NodeInfo } from './node-info';

/** Min-heap of candidate nodes for one service, least loaded first. */
export class NodeHeap {
  private readonly items: NodeInfo[] = [];

  constructor(
    private readonly serviceId: string,
    nodes: Iterable<NodeInfo> = [],
  ) {
    for (const n of nodes) this.items.push(n);
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /** Candidates left. */
  get size(): number {
    return this.items.length;
  }

  /** Whether `a` should take a task before `b`. */
  before(a: NodeInfo, b: NodeInfo): boolean {
    const sa = a.serviceTasks(this.serviceId);
    const sb = b.serviceTasks(this.serviceId);
    if (sa !== sb) return sa < sb;
    if (a.activeTasks !== b.activeTasks) return a.activeTasks < b.activeTasks;
    return a.id < b.id;
  }

  /** Add a candidate (again, after its counts changed). */
  push(n: NodeInfo): void {
    this.items.push(n);
    this.up(this.items.length - 1);
  }

  /** Take the best candidate, or undefined when none is left. */
  pop(): NodeInfo | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0];
    const last = items.pop() as NodeInfo;
    if (items.length > 0) {
      items[0] = last;
      this.down(0);
    }
    return top;
  }

  private up(i: number): void {
    const items = this.items;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  private down(i: number): void {
    const items = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < items.length && this.before(items[l], items[best])) best = l;
      if (r < items.length && this.before(items[r], items[best])) best = r;
      if (best === i) return;
      [items[i], items[best]] = [items[best], items[i]];
      i = best;
    }
  }
}
