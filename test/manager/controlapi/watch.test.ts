/**
 * The watch API when the store's watch ends after it started (etcd tells of
 * a compaction or a lost quorum late): the stream ends with an `error` line
 * carrying the store's code, so the client relists instead of waiting.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import t from 'tap';
import { request } from 'undici';
import type { WatchLine } from '../../../src/api/contract';
import { Router } from '../../../src/api/router';
import { CompactedError } from '../../../src/errors';
import { WatchApi } from '../../../src/manager/controlapi/watch';
import { KEYS } from '../../../src/model/types';
import { MemoryStore } from '../../../src/store/memory-store';
import type { WatchHandlers, Watcher } from '../../../src/store/store';

/** A store whose watches end a moment after they start, as an etcd watch of a compacted revision does. */
class LateCompaction extends MemoryStore {
  override watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Watcher {
    const w = super.watch(prefix, fromRevision, handlers);
    setImmediate(() => handlers.onError?.(new CompactedError(`revision ${fromRevision} is compacted`)));
    return w;
  }
}

async function lines(t: tap.Test, path: string): Promise<WatchLine[]> {
  const store = new LateCompaction();
  await store.put(KEYS.service('s1'), { id: 's1' });
  const router = new Router(pino({ level: 'silent' }));
  new WatchApi({ store, authorizeNode: () => undefined }).routes(router);
  const server = http.createServer((req, res) => void router.handle(req, res, 'local'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await store.close();
  });
  const res = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
  const text = await res.body.text();
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as WatchLine);
}

t.test('a replay whose history turns out compacted ends with the compaction error', async (t) => {
  const got = await lines(t, `/v1/watch?prefix=${encodeURIComponent(KEYS.services)}&rev=1`);
  t.match(got[got.length - 1], { type: 'error', code: 'SHOAL_ERR_COMPACTED' });
});

t.test('a listed stream whose watch ends says why after the list', async (t) => {
  const got = await lines(t, `/v1/watch?prefix=${encodeURIComponent(KEYS.services)}&prefix=${encodeURIComponent(KEYS.tasks)}`);
  t.equal(got[0].type, 'list');
  t.same(
    got.slice(1).map((l) => l.type),
    ['error'],
    'one error line, though both prefixes ended',
  );
});
