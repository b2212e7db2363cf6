/**
 * EtcdWatch on scripted Watch streams: where it resumes after a break (the
 * last delivered revision, not the response header's), progress
 * notifications, compaction and cancel reasons as onError, giving up when no
 * member takes the watch back, and cancel.
 */
import { EventEmitter } from 'node:events';
import type { IEvent, IWatchRequest, IWatchResponse } from 'etcd3';
import t from 'tap';
import { CompactedError, NoQuorumError, StoreRequestFailedError } from '../../src/errors';
import type { OpenedWatchStream, WatchStream } from '../../src/store/etcd-client';
import { EtcdKeyspace } from '../../src/store/etcd-keyspace';
import { EtcdWatch } from '../../src/store/etcd-watch';
import type { WatchEvent } from '../../src/store/store';
import { eventually } from '../support/eventually';
import { FakeClock } from '../support/fake-clock';

/** A Watch stream the test answers. */
class FakeStream extends EventEmitter {
  readonly requests: IWatchRequest[] = [];
  canceled = false;
  write(request: IWatchRequest): void {
    this.requests.push(request);
  }
  cancel(): void {
    this.canceled = true;
  }
  get startRevision(): number {
    return Number(this.requests[0]?.create_request?.start_revision);
  }
}

function response(headerRevision: number, fields: Partial<IWatchResponse> = {}): IWatchResponse {
  return { header: { revision: String(headerRevision), cluster_id: '1', member_id: '1', raft_term: '1' }, watch_id: '0', created: false, canceled: false, compact_revision: '0', cancel_reason: '', fragment: false, events: [], ...fields };
}

function put(key: string, revision: number): IEvent {
  const kv = { key: Buffer.from(`/p/${key}`), value: Buffer.from(JSON.stringify(revision)), create_revision: String(revision), mod_revision: String(revision), version: '1', lease: '0' };
  return { type: 'Put', kv, prev_kv: undefined as unknown as IEvent['prev_kv'] };
}

/** A watch from `from` on fake streams; `failOpen` makes opening fail. */
function harness(t: tap.Test, from: number) {
  const streams: FakeStream[] = [];
  const events: WatchEvent[] = [];
  const errors: Error[] = [];
  const state = { failOpen: false, restarts: 0, memberFailures: 0 };
  const clock = new FakeClock();
  const watch = new EtcdWatch(
    {
      openStream: async (): Promise<OpenedWatchStream> => {
        if (state.failOpen) throw new Error('connect ECONNREFUSED');
        const s = new FakeStream();
        streams.push(s);
        return { stream: s as unknown as WatchStream, memberFailed: () => void state.memberFailures++ };
      },
      keyspace: new EtcdKeyspace('/p/'),
      observe: () => undefined,
      restarted: () => void state.restarts++,
      now: () => clock.now(),
      timers: clock,
    },
    { resumeTimeoutMs: 1_000, minBackoffMs: 1, maxBackoffMs: 2 },
    '',
    from,
    { onEvents: (e) => events.push(...e), onError: (err) => errors.push(err) },
  );
  t.teardown(() => watch.cancel());
  watch.start();
  /** Reopen pauses run on the fake clock: each look moves it past the longest pause. */
  const until = <T>(read: () => T | undefined, what: string) =>
    eventually(async () => {
      await clock.advanceSettling(2);
      return read();
    }, what);
  const stream = (i: number) => until(() => streams[i], `stream ${i}`);
  return { watch, streams, events, errors, state, clock, until, stream };
}

t.test('a stream broken in the middle of history resumes after the last event delivered', async (t) => {
  const h = harness(t, 5);
  const first = await h.stream(0);
  t.equal(first.startRevision, 5);
  t.same(first.requests[0].create_request?.key, Buffer.from('/p/'));
  first.emit('data', response(100, { created: true }));
  // History comes with the store's newest revision in the header, not the last event's.
  first.emit('data', response(100, { events: [put('a', 5), put('b', 6)] }));
  first.emit('error', new Error('connection reset'));
  const second = await h.stream(1);
  t.equal(second.startRevision, 7, 'from the first revision not delivered');
  t.equal(h.state.restarts, 1);
  t.equal(h.state.memberFailures, 1, 'the member is reported to the pool');
  t.ok(first.canceled);
  second.emit('data', response(100, { created: true }));
  second.emit('data', response(100, { events: [put('b', 6), put('c', 7)] }));
  t.same(
    h.events.map((e) => `${e.kv.key}@${e.revision}`),
    ['a@5', 'b@6', 'c@7'],
    'a revision sent twice is delivered once',
  );
  first.emit('data', response(100, { events: [put('x', 8)] }));
  t.equal(h.events.length, 3, 'the old stream is not listened to');
  t.same(h.errors, []);
});

t.test('a progress notification moves the resume point; ending the stream is a break too', async (t) => {
  const h = harness(t, 5);
  const first = await h.stream(0);
  first.emit('data', response(40, { created: true }));
  t.equal(h.events.length, 0);
  first.emit('data', response(40));
  first.emit('end');
  t.equal((await h.stream(1)).startRevision, 41);
});

t.test('compaction and other cancel reasons end the watch with onError', async (t) => {
  const compacted = harness(t, 5);
  const s = await compacted.stream(0);
  s.emit('data', response(100, { created: true, canceled: true, compact_revision: '50' }));
  t.type(compacted.errors[0], CompactedError);
  t.match(compacted.errors[0].message, /revision 5 is compacted \(oldest kept 50\)/);
  t.ok(s.canceled);
  s.emit('data', response(100, { events: [put('a', 60)] }));
  t.same(compacted.events, []);

  const refused = harness(t, 5);
  (await refused.stream(0)).emit('data', response(100, { canceled: true, cancel_reason: 'etcdserver: permission denied' }));
  t.type(refused.errors[0], StoreRequestFailedError);
  t.match(refused.errors[0].message, /permission denied/);
});

t.test('a watch no member takes back within the resume timeout ends with NoQuorumError', async (t) => {
  const h = harness(t, 5);
  const first = await h.stream(0);
  first.emit('data', response(10, { created: true }));
  h.state.failOpen = true;
  first.emit('error', new Error('etcdserver: no leader'));
  await h.until(() => h.state.restarts >= 3 || undefined, 'a few reopen attempts');
  t.same(h.errors, [], 'still trying');
  h.clock.advance(1_000);
  await h.until(() => h.errors[0], 'the watch to give up');
  t.type(h.errors[0], NoQuorumError);
  t.match(h.errors[0].message, /from revision 5/);
  t.equal(h.clock.pending, 0, 'no reopen is scheduled');
  const restarts = h.state.restarts;
  await h.clock.advanceSettling(60_000, 1_000);
  t.equal(h.state.restarts, restarts, 'and a minute later it has not tried again');
});

t.test('cancel stops events and the stream', async (t) => {
  const h = harness(t, 5);
  const s = await h.stream(0);
  h.watch.cancel();
  t.ok(s.canceled);
  s.emit('data', response(100, { events: [put('a', 5)] }));
  s.emit('error', new Error('cancelled'));
  t.same(h.events, []);
  t.same(h.errors, [], 'a canceled watch reports nothing');
  t.equal(h.streams.length, 1, 'and is not reopened');
});
