/**
 * Where the next task of a group goes when the service has spread
 * preferences (swarmkit `decision_tree.go`, `nodeset.go`): nodes are grouped
 * by the value of the first label, each group by the next label, and so on;
 * a task descends into the group holding the fewest tasks of the service
 * that still has a candidate, level by level, and takes the best node of the
 * leaf it reaches. Placing one task at a time this way levels the groups the
 * same as swarmkit's "fill every branch up to the average" split, and keeps
 * the choice deterministic: ties go to the smaller label value.
 *
 * Without preferences the tree is a single leaf, the plain node heap.
 */
import { NodeHeap } from './node-heap';
import type { NodeInfo } from './node-info';
import { spreadValue } from './preference';
import { siftDown } from './binary-heap';

interface Branch {
  /** Label value this branch stands for ('' for nodes without the label). */
  readonly value: string;
  readonly parent: Branch | null;
  /** Tasks of the service on every node under the branch, candidates or not. */
  tasks: number;
  /** Candidate nodes under the branch, while the tree is built. */
  candidates: number;
  /** Inner branch: one child per label value. */
  children: Map<string, Branch> | null;
  /** Inner branch: children that still have a candidate, fewest tasks first. */
  open: Branch[];
  /** Leaf: candidates collected while building, then the heap they go into. */
  collected: NodeInfo[];
  heap: NodeHeap | null;
}

/** What a tree is built from. */
export interface DecisionTreeOptions {
  serviceId: string;
  /** Labels to spread over, outermost first (`spreadLabels`). */
  labels: readonly string[];
  /** Every node: tasks on nodes that take no new task still weigh on their group. */
  nodes: readonly NodeInfo[];
  /** Whether a node may take a task of the group now (the pipeline). */
  accepts(node: NodeInfo): boolean;
  /** The group's `versionKey`, for node avoidance. */
  failureKey: string;
}

/** Candidate nodes for one task group, arranged by the service's spread preferences. */
export class DecisionTree {
  private readonly root: Branch;
  private leaf: Branch | null = null;

  constructor(private readonly o: DecisionTreeOptions) {
    this.root = branch('', null);
    const depth = o.labels.length;
    for (const info of o.nodes) {
      const accepted = o.accepts(info);
      const tasks = info.serviceTasks(o.serviceId);
      let b = this.root;
      b.tasks += tasks;
      if (accepted) b.candidates++;
      for (let level = 0; level < depth; level++) {
        const value = spreadValue(info.node, o.labels[level]);
        if (!b.children) b.children = new Map();
        let child = b.children.get(value);
        if (!child) {
          child = branch(value, b);
          b.children.set(value, child);
        }
        child.tasks += tasks;
        if (accepted) child.candidates++;
        b = child;
      }
      if (accepted) b.collected.push(info);
    }
    this.seal(this.root, depth);
  }

  /** The node the next task should go to, taken out of the tree; undefined when no candidate is left. */
  next(): NodeInfo | undefined {
    let b = this.root;
    while (b.heap === null) {
      if (b.open.length === 0) return undefined;
      b = b.open[0];
    }
    const info = b.heap.pop();
    this.leaf = info ? b : null;
    return info;
  }

  /**
   * Record that a task went to the node `next` returned; `stillFits` puts the
   * node back among the candidates (it passed the filters again).
   */
  placed(info: NodeInfo, stillFits: boolean): void {
    const leaf = this.leaf;
    if (!leaf || !leaf.heap) throw new RangeError('placed() without a node from next()');
    this.leaf = null;
    if (stillFits) leaf.heap.push(info);
    for (let b: Branch | null = leaf; b; b = b.parent) b.tasks++;
    // next() descended through the first open child at every level, so the
    // branch that changed is at the top of each parent's queue.
    for (let b: Branch = leaf; b.parent; b = b.parent) {
      const open = b.parent.open;
      const exhausted = b.heap ? b.heap.size === 0 : b.open.length === 0;
      if (exhausted) {
        const last = open.pop() as Branch;
        if (open.length > 0) {
          open[0] = last;
          siftDown(open, 0, lighter);
        }
      } else {
        siftDown(open, 0, lighter);
      }
    }
  }

  private seal(b: Branch, depth: number): void {
    if (depth === 0) {
      b.heap = new NodeHeap(this.o.serviceId, b.collected, this.o.failureKey);
      b.collected = [];
      return;
    }
    for (const child of b.children?.values() ?? []) {
      this.seal(child, depth - 1);
      if (child.candidates > 0) b.open.push(child);
    }
    for (let i = (b.open.length >> 1) - 1; i >= 0; i--) siftDown(b.open, i, lighter);
  }
}

function branch(value: string, parent: Branch | null): Branch {
  return { value, parent, tasks: 0, candidates: 0, children: null, open: [], collected: [], heap: null };
}

function lighter(a: Branch, b: Branch): boolean {
  if (a.tasks !== b.tasks) return a.tasks < b.tasks;
  return a.value < b.value;
}
