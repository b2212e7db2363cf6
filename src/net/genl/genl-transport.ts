import type { GenlMessage, GenlRequest } from './genl-message';

/**
 * Something that carries generic netlink requests to a kernel and brings the
 * answers back: the real socket (GenlSocket) or a fake that plays the kernel
 * in tests. The narrow interface every genl user takes in its deps.
 */
export interface GenlTransport {
  /**
   * Send one request; resolve with its replies (a `do` without a reply gives
   * []; a dump gives every part). Rejects with NetlinkError when the kernel
   * answers with an errno.
   */
  request(req: GenlRequest, what?: string): Promise<GenlMessage[]>;
  /** Release the socket; pending requests reject. Safe to call twice. */
  close(): void;
}
