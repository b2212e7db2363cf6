/**
 * etcd3's client with the one thing EtcdStore needs that it does not offer:
 * a raw Watch stream that carries etcd's require-leader flag.
 */
import { Etcd3, type IWatchRequest, type IWatchResponse } from 'etcd3';

/** etcd's `rpctypes.MetadataRequireLeaderKey`: a member without a leader then ends the stream instead of going quiet. */
const REQUIRE_LEADER_KEY = 'hasleader';

/** One bidirectional Watch stream to one member. */
export interface WatchStream {
  write(request: IWatchRequest): void;
  cancel(): void;
  on(event: 'data', fn: (res: IWatchResponse) => void): this;
  on(event: 'error', fn: (err: Error) => void): this;
  on(event: 'end', fn: () => void): this;
}

/** A Watch stream and how to tell etcd3's pool that its member failed (so calls avoid that member for a while). */
export interface OpenedWatchStream {
  stream: WatchStream;
  memberFailed(err: Error): void;
}

interface WatchServiceClient {
  watch(metadata: unknown, options: object): WatchStream;
}

/** etcd3's Etcd3 plus require-leader Watch streams. */
export class EtcdClient extends Etcd3 {
  /**
   * A Watch stream on some member. etcd3's own watcher resumes after the
   * revision in a response header, which during a history replay is the
   * store's newest revision, not the last event sent: a stream broken in the
   * middle of history would skip the rest. EtcdWatch resumes by itself.
   */
  openWatchStream(): Promise<OpenedWatchStream> {
    return this.pool.withConnection('Watch', ({ resource, client, metadata }) => {
      const md = metadata.clone();
      md.set(REQUIRE_LEADER_KEY, 'true');
      const stream = (client as unknown as WatchServiceClient).watch(md, {});
      return { stream, memberFailed: (err: Error) => this.pool.markFailed(resource, err) };
    });
  }
}
