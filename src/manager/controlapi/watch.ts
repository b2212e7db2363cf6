/**
 * `GET /v1/watch?prefix=...[&rev=N]`: NDJSON, one `list` line of every key
 * under the prefixes, then `events` lines as they commit. With `rev=N` the
 * stream replays changes from revision N instead of listing. A stream the
 * store cannot continue ends with an `error` line: SHOAL_ERR_COMPACTED when
 * that history is gone (at once, or later from etcd), or the store's own code
 * (no quorum, closed). Agents and the CLI's progress use it.
 */
import type { ServerResponse } from 'node:http';
import type { WatchLine } from '../../api/contract';
import { STREAMING, type RequestContext, type Router } from '../../api/router';
import { InvalidArgumentError, ShoalError } from '../../errors';
import { KEYS } from '../../model/types';
import type { Store, WatchEvent, Watcher } from '../../store/store';

/** Prefixes a watch may ask for. */
const WATCHABLE: readonly string[] = [KEYS.nodes, KEYS.services, KEYS.tasks, KEYS.networks];

/** What the watch API needs. */
export interface WatchApiDeps {
  store: Store;
  /** Throws UnauthorizedError unless a node's request carries a join token. */
  authorizeNode(c: RequestContext): void;
}

/** The watch stream of the control API. */
export class WatchApi {
  constructor(private readonly deps: WatchApiDeps) {}

  routes(router: Router): void {
    router.on('GET', '/v1/watch', (c) => this.watch(c));
  }

  private async watch(c: RequestContext): Promise<typeof STREAMING> {
    const prefixes = c.query.getAll('prefix');
    if (prefixes.length === 0) throw new InvalidArgumentError('watch needs at least one prefix');
    if (c.caller === 'node') this.deps.authorizeNode(c);
    for (const p of prefixes) {
      if (!WATCHABLE.includes(p)) throw new InvalidArgumentError(`cannot watch prefix ${p}`);
    }
    const res: ServerResponse = c.res;
    const revParam = c.query.get('rev');
    const fromRev = revParam === null ? undefined : Number(revParam);
    if (fromRev !== undefined && (!Number.isInteger(fromRev) || fromRev < 1)) throw new InvalidArgumentError('rev must be a positive integer');
    const { store } = this.deps;
    const lists = fromRev === undefined ? await Promise.all(prefixes.map((p) => store.range(p))) : undefined;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const send = (line: WatchLine) => res.write(JSON.stringify(line) + '\n');
    if (lists) {
      const revision = Math.min(...lists.map((l) => l.revision));
      const kvs = lists.flatMap((l) => l.kvs.map((kv) => ({ key: kv.key, value: kv.value, modRevision: kv.modRevision })));
      send({ type: 'list', revision, kvs });
    }
    const watchers: Watcher[] = [];
    // A watch that ends (etcd compacted `rev`, lost quorum; the store closed) says why, so the client relists instead of waiting.
    const ended = (err: Error) => {
      if (res.writableEnded) return;
      send({ type: 'error', code: err instanceof ShoalError ? err.code : 'SHOAL_ERR_INTERNAL', message: err.message });
      res.end();
    };
    const onEvents = (events: WatchEvent[]) =>
      send({ type: 'events', events: events.map((e) => ({ type: e.type, key: e.kv.key, value: e.kv.value, revision: e.revision })) });
    try {
      for (const p of prefixes) {
        // Ranges may have read at different revisions; events at or below what the list showed are skipped per prefix.
        const from = lists ? lists[prefixes.indexOf(p)].revision + 1 : fromRev!;
        watchers.push(store.watch(p, from, { onEvents, onError: ended }));
      }
    } catch (err) {
      for (const w of watchers) w.cancel();
      ended(err as Error);
      return STREAMING;
    }
    c.req.socket.setTimeout(0);
    res.on('close', () => {
      for (const w of watchers) w.cancel();
    });
    return STREAMING;
  }
}
