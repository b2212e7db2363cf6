import pino from 'pino';
import t from 'tap';
import { KEYS } from '../../src/model/types';
import { MemoryStore } from '../../src/store/memory-store';
import type { UiSnapshot } from '../../src/ui/view-model';
import { VisualizerFeed, type FeedSubscriber } from '../../src/ui/visualizer-feed';
import { makeNode, makeService, makeTask } from '../support/builders';
import { eventually } from '../support/eventually';

/** A subscriber that keeps what it was sent. */
function recorder(): FeedSubscriber & { snapshots: UiSnapshot[]; ended: boolean } {
  const r = {
    snapshots: [] as UiSnapshot[],
    ended: false,
    snapshot: (json: string) => void r.snapshots.push(JSON.parse(json) as UiSnapshot),
    end: () => void (r.ended = true),
  };
  return r;
}

async function seeded(): Promise<MemoryStore> {
  const store = new MemoryStore();
  const web = makeService('web', { replicas: 1 });
  await store.put(KEYS.nodes + 'n1', makeNode('n1'));
  await store.put(KEYS.services + 'web', web);
  await store.put(KEYS.tasks + 't1', makeTask('t1', web));
  return store;
}

t.test('a page gets the picture at once, then one per change', async (t) => {
  const store = await seeded();
  const feed = new VisualizerFeed({ store, logger: pino({ level: 'silent' }) }, { debounceMs: 5 });
  t.teardown(() => feed.stop());
  const page = recorder();
  const unsubscribe = feed.subscribe(page);
  await eventually(() => page.snapshots.length === 1, 'the first snapshot');
  t.same(page.snapshots[0].tasks.map((x) => x.id), ['t1']);

  const web = makeService('web', { replicas: 2 });
  await store.put(KEYS.services + 'web', web);
  await store.put(KEYS.tasks + 't2', makeTask('t2', web, { slot: 2, state: 'pending', nodeId: '' }));
  await store.put(KEYS.nodes + 'n1', makeNode('n1', { availability: 'drain' }));
  const last = await eventually(() => {
    const s = page.snapshots.at(-1)!;
    return s.tasks.length === 2 && s.nodes[0].availability === 'drain' && s;
  }, 'the new task and the drained node');
  t.equal(last.services[0].replicas, 2);

  const second = recorder();
  feed.subscribe(second);
  t.same(second.snapshots, [last], 'a second page gets the current picture without a new list');

  await store.delete(KEYS.tasks + 't2');
  await eventually(() => page.snapshots.at(-1)!.tasks.length === 1, 'the deleted task gone');

  unsubscribe();
  t.equal(feed.subscriberCount, 1);
  feed.stop();
  t.ok(second.ended, 'stop ends the pages still open');
  feed.stop();
  const late = recorder();
  feed.subscribe(late);
  t.ok(late.ended, 'a stopped feed ends a new page at once');
});

t.test('the feed watches only while a page is open, and lists again when one comes back', async (t) => {
  const store = await seeded();
  const feed = new VisualizerFeed({ store, logger: pino({ level: 'silent' }) }, { debounceMs: 5 });
  t.teardown(() => feed.stop());
  const first = recorder();
  feed.subscribe(first)();
  await store.put(KEYS.tasks + 't2', makeTask('t2', makeService('web'), { slot: 2 }));
  const again = recorder();
  feed.subscribe(again);
  await eventually(() => again.snapshots.length === 1, 'a snapshot after listing again');
  t.same(again.snapshots[0].tasks.map((x) => x.id), ['t1', 't2']);
  t.same(first.snapshots, [], 'the page that left got nothing');
});

t.test('a watch that ends is followed by a new list', async (t) => {
  const store = await seeded();
  const feed = new VisualizerFeed({ store, logger: pino({ level: 'silent' }) }, { debounceMs: 5, relistDelayMs: 5 });
  t.teardown(() => feed.stop());
  const page = recorder();
  // The first watch call fails as a compacted watch would; the relist's watches work.
  const watch = store.watch.bind(store);
  let failed = false;
  store.watch = (prefix, from, handlers) => {
    if (failed) return watch(prefix, from, handlers);
    failed = true;
    queueMicrotask(() => handlers.onError?.(new Error('compacted')));
    return { cancel: () => undefined };
  };
  feed.subscribe(page);
  await store.put(KEYS.tasks + 't2', makeTask('t2', makeService('web'), { slot: 2 }));
  await eventually(() => page.snapshots.at(-1)?.tasks.length === 2, 'the change seen after listing again');
  t.ok(failed, 'the first watch did end');
});
