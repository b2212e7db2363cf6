/**
 * How a user names a node, service, network or task: its id, its name, or a
 * unique prefix of its id (as Docker takes short ids). One rule for the API
 * and for the CLI's own lookups.
 */
import { InvalidArgumentError } from '../errors';

/** Shortest id prefix accepted, so a one-letter typo does not pick an object. */
export const MIN_ID_PREFIX = 3;

/** What an object is called, for lookups and messages. */
export interface Named<T> {
  /** `node`, `service`: in messages. */
  what: string;
  id(value: T): string;
  /** Omitted for objects named by id only (tasks). */
  name?(value: T): string;
}

/** The item whose id, then name, then unique id prefix is `ref`; undefined for none, InvalidArgumentError for an ambiguous prefix. */
export function findByRef<T>(items: readonly T[], named: Named<T>, ref: string): T | undefined {
  const exact = items.find((x) => named.id(x) === ref) ?? (named.name ? items.find((x) => named.name!(x) === ref) : undefined);
  if (exact || ref.length < MIN_ID_PREFIX) return exact;
  const hits = items.filter((x) => named.id(x).startsWith(ref));
  if (hits.length > 1) throw new InvalidArgumentError(`${named.what} ${ref} is ambiguous (${hits.length} matches)`);
  return hits[0];
}
