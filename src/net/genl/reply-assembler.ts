import { NetlinkError, DumpInterruptedError } from './netlink-error';
import { NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, doneCodeOf, errorCodeOf, toGenlMessage } from './genl-message';
import type { GenlMessage, GenlRequest, NetlinkMessage } from './genl-message';

/** What feeding one message did to a request: still waiting, finished with replies, or failed. */
export type AssemblyStep = { state: 'pending' } | { state: 'done'; replies: GenlMessage[] } | { state: 'failed'; error: Error };

/**
 * Collects the answer to one request from the messages carrying its sequence
 * number. A `do` request ends with its ACK (NLMSG_ERROR 0), any replies
 * before it collected; a `dump` ends with NLMSG_DONE. NLMSG_ERROR with an
 * errno fails either. Pure: the socket shell routes messages here by seq.
 */
export class ReplyAssembler {
  private readonly replies: GenlMessage[] = [];
  private interrupted = false;

  constructor(
    private readonly what: string,
    private readonly kind: GenlRequest['kind'],
  ) {}

  /** Take the next message with this request's seq. */
  feed(msg: NetlinkMessage): AssemblyStep {
    switch (msg.type) {
      case NLMSG_NOOP:
        return { state: 'pending' };
      case NLMSG_OVERRUN:
        return { state: 'failed', error: new NetlinkError(`${this.what}: overrun`, 105 /* ENOBUFS */) };
      case NLMSG_ERROR: {
        const errno = errorCodeOf(msg);
        if (errno !== 0) return { state: 'failed', error: new NetlinkError(this.what, errno) };
        // An ACK ends a `do`; a dump is not acked, so a stray ACK there means nothing.
        return this.kind === 'do' ? { state: 'done', replies: this.replies } : { state: 'pending' };
      }
      case NLMSG_DONE: {
        const errno = doneCodeOf(msg);
        if (errno !== 0) return { state: 'failed', error: new NetlinkError(this.what, errno) };
        if (this.interrupted || (msg.flags & NLM_F_DUMP_INTR) !== 0) {
          return { state: 'failed', error: new DumpInterruptedError(`${this.what}: dump interrupted by a concurrent change`) };
        }
        return { state: 'done', replies: this.replies };
      }
      default: {
        if ((msg.flags & NLM_F_DUMP_INTR) !== 0) this.interrupted = true;
        this.replies.push(toGenlMessage(msg));
        // Shoal always asks a `do` for an ACK, so a reply never ends it: the ACK after it does.
        return { state: 'pending' };
      }
    }
  }
}
