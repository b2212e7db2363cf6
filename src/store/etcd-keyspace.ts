/**
 * How the store's keys and values live in etcd: every key under the
 * cluster's key prefix (so several clusters can share one etcd), values as
 * JSON text, revisions as etcd's.
 */
import type { IEvent, IKeyValue } from 'etcd3';
import { InvalidArgumentError } from '../errors';
import type { KeyValue, WatchEvent } from './store';

/** etcd's "every key from here on" range end. */
const ALL_KEYS = Buffer.from([0]);

/** The key prefix one cluster's store lives under, and the translation to and from etcd's bytes. */
export class EtcdKeyspace {
  private readonly prefixBytes: Buffer;

  /** `prefix` is prepended to every key as it is: `/shoal/` stores `/nodes/a` as `/shoal//nodes/a`. */
  constructor(readonly prefix: string) {
    if (prefix !== '' && !prefix.endsWith('/')) {
      // Without the slash, cluster `/a`'s range over everything would take in cluster `/ab`'s keys.
      throw new InvalidArgumentError(`etcd key prefix ${JSON.stringify(prefix)} must end with / (e.g. /shoal/)`);
    }
    this.prefixBytes = Buffer.from(prefix);
  }

  /** The etcd key of a store key. */
  key(key: string): Buffer {
    return Buffer.concat([this.prefixBytes, Buffer.from(key)]);
  }

  /** The etcd range (key, range_end) of every store key starting with `prefix`. */
  range(prefix: string): { key: Buffer; range_end: Buffer } {
    const start = this.key(prefix);
    return { key: start.length === 0 ? ALL_KEYS : start, range_end: rangeEnd(start) };
  }

  /** A store KeyValue from etcd's; the value parsed from its JSON. */
  decode<T>(kv: IKeyValue): KeyValue<T> {
    return {
      key: this.storeKey(kv.key),
      value: JSON.parse(kv.value.toString()) as T,
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
    };
  }

  /** A watch event from etcd's; a delete carries the memory store's tombstone shape (value null, revisions 0 but modRevision). */
  event(ev: IEvent): WatchEvent {
    const revision = Number(ev.kv.mod_revision);
    const prevKv = ev.prev_kv ? this.decode(ev.prev_kv) : undefined;
    // The proto enum name is DELETE; etcd3's types spell it Delete.
    if (String(ev.type).toLowerCase() === 'delete') {
      return { type: 'delete', kv: { key: this.storeKey(ev.kv.key), value: null, createRevision: 0, modRevision: revision, version: 0 }, prevKv, revision };
    }
    return { type: 'put', kv: this.decode(ev.kv), prevKv, revision };
  }

  private storeKey(key: Buffer): string {
    return key.subarray(this.prefixBytes.length).toString();
  }
}

/** A value as the JSON bytes etcd keeps; InvalidArgumentError for what JSON cannot hold. */
export function encodeValue(key: string, value: unknown): Buffer {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new InvalidArgumentError(`value of ${key} is not JSON: ${(err as Error).message}`);
  }
  if (json === undefined) throw new InvalidArgumentError(`value of ${key} is not JSON`);
  return Buffer.from(json);
}

/** The smallest key after every key starting with `prefix` (etcd's clientv3.GetPrefixRangeEnd). */
function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return ALL_KEYS;
}
