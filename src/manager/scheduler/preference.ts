/**
 * Placement preferences (`--placement-pref spread=node.labels.zone`):
 * parsing, and the label a node is grouped by at each level of the spread.
 * Only `spread` over node labels exists, as in Docker.
 */
import { InvalidArgumentError } from '../../errors';
import type { Node, Placement } from '../../model/types';

const LABEL_PREFIX = 'node.labels.';
const SPREAD = 'spread';

/** One preference as written on the command line, `spread=node.labels.zone`, to its stored form. */
export function parsePlacementPreference(text: string): { spread: string } {
  const eq = text.indexOf('=');
  const strategy = eq < 0 ? '' : text.slice(0, eq).trim().toLowerCase();
  if (strategy !== SPREAD) {
    throw new InvalidArgumentError(`invalid placement preference "${text}": expected spread=node.labels.<name>`);
  }
  const descriptor = text.slice(eq + 1).trim();
  spreadLabel(descriptor);
  return { spread: descriptor };
}

/** The node label a spread descriptor names (`node.labels.zone` -> `zone`); throws InvalidArgumentError otherwise. */
export function spreadLabel(descriptor: string): string {
  // The prefix is matched without case, the label name exactly, as swarmkit does.
  if (descriptor.length > LABEL_PREFIX.length && descriptor.slice(0, LABEL_PREFIX.length).toLowerCase() === LABEL_PREFIX) {
    return descriptor.slice(LABEL_PREFIX.length);
  }
  throw new InvalidArgumentError(`invalid placement preference "spread=${descriptor}": only node.labels.<name> can be spread over`);
}

/**
 * Labels to spread over, outermost first. A stored descriptor that does not
 * name a label is skipped, as swarmkit skips what it cannot spread over:
 * placing the task matters more than a preference.
 */
export function spreadLabels(placement: Placement | undefined): string[] {
  const labels: string[] = [];
  for (const p of placement?.preferences ?? []) {
    try {
      labels.push(spreadLabel(p.spread));
    } catch {
      // skipped, see above
    }
  }
  return labels;
}

/** A node's value for a spread label; nodes without the label form the group of the empty value. */
export function spreadValue(node: Node, label: string): string {
  return node.labels?.[label] ?? '';
}
