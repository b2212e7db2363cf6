/**
 * Array binary-heap sifts, shared by the node heap and the spread decision
 * tree's per-level queues. `before(a, b)` is the heap order: true when `a`
 * belongs nearer the top. Both move the item once instead of swapping.
 */

/** Move items[i] down until both children come after it. */
export function siftDown<T>(items: T[], i: number, before: (a: T, b: T) => boolean): void {
  const n = items.length;
  const item = items[i];
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const child = r < n && before(items[r], items[l]) ? r : l;
    if (!before(items[child], item)) break;
    items[i] = items[child];
    i = child;
  }
  items[i] = item;
}

/** Move items[i] up until its parent comes before it. */
export function siftUp<T>(items: T[], i: number, before: (a: T, b: T) => boolean): void {
  const item = items[i];
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(item, items[parent])) break;
    items[i] = items[parent];
    i = parent;
  }
  items[i] = item;
}
