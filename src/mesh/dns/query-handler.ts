import type { DecodedPacket, Packet } from 'dns-packet';
import type { Logger } from 'pino';
import { answerQuery, errorResponse, RCODE, type AnswerOptions, type AnswerResult } from './answer';
import { AnswerCache, answerCacheKey } from './answer-cache';
import type { QueryResult } from './query-metrics';
import type { DnsTransport, UpstreamForwarder } from './upstream';
import type { DnsView } from './view';
import { decodeMessage, encodeForUdp, isResponsePacket, rawErrorResponse, udpResponseLimit } from './wire';

/** Largest DNS message over TCP: the 2-byte length prefix (RFC 1035 §4.2.2). */
const TCP_MESSAGE_LIMIT = 0xffff;

/** What handling one packet gives: bytes to send back now, later, or nothing. */
export type Handled = Buffer | null | Promise<Buffer | null>;

/** What answering queries needs. */
export interface DnsQueryHandlerDeps {
  logger: Logger;
  /** Called once per query, so a new view is used from the next query on. */
  getView(): DnsView;
  /** Counts each packet's outcome (`shoal_dns_queries_total`). */
  queries: Record<QueryResult, { inc(value?: number): void }>;
}

/** How queries are answered. */
export interface DnsQueryHandlerOptions {
  /** Domain and TTL of cluster answers; `rotate` is set per query. */
  answer: AnswerOptions;
  /** Queries waiting on an upstream at once; more get SERVFAIL straight away. */
  maxPendingForwards: number;
}

/**
 * Turns one DNS message into its response, whatever carried it: from the
 * answer cache, from the view (answer.ts), or from an upstream. Never throws:
 * a bad packet must not stop the server.
 */
export class DnsQueryHandler {
  /** Set once the server listens (its own address is filtered out of the upstreams); SERVFAIL for forwards before that. */
  private forwarder: UpstreamForwarder | null = null;
  private pendingForwards = 0;
  private rotation = 0;
  private readonly answerCache = new AnswerCache();

  constructor(
    private readonly deps: DnsQueryHandlerDeps,
    private readonly options: DnsQueryHandlerOptions,
  ) {}

  /** Forwards names outside the cluster through `forwarder` from now on. */
  forwardTo(forwarder: UpstreamForwarder): void {
    this.forwarder = forwarder;
  }

  /** Abandons forwards in flight. */
  close(): void {
    this.forwarder?.close();
  }

  /**
   * Answers from the cache when the same question was answered from the same
   * view before; else decodes once, answers or forwards, encodes once.
   */
  handle(raw: Buffer, transport: DnsTransport): Handled {
    if (raw.length < 4 || isResponsePacket(raw)) {
      // Too short to tell a query from a response, or a response: answering
      // either could start a packet loop between two servers.
      this.count('dropped');
      return null;
    }
    const key = answerCacheKey(raw, transport === 'tcp');
    const hit = key === null ? null : this.cachedAnswer(key, raw);
    if (hit) {
      this.nextRotation();
      this.count(hit.result);
      return hit.response;
    }
    const query = decodeMessage(raw);
    if (!query) {
      this.count('formerr');
      return rawErrorResponse(raw, RCODE.FORMERR);
    }
    try {
      const rotation = this.nextRotation();
      this.options.answer.rotate = rotation;
      const view = this.deps.getView();
      const decision = answerQuery(query, view, this.options.answer);
      if (decision.kind === 'answer') {
        this.count(decision.result);
        const encoded = this.encodeOrNull(decision.response, query, transport);
        if (encoded && key !== null) {
          this.answerCache.useView(view);
          this.answerCache.set(key, rotation, decision.response.answers?.length ?? 0, encoded, decision.result);
        }
        return encoded ?? rawErrorResponse(raw, RCODE.SERVFAIL);
      }
    } catch (err) {
      this.deps.logger.error({ err }, 'dns answer failed');
      this.count('servfail');
      return this.encode(errorResponse(query, RCODE.SERVFAIL), query, raw, transport);
    }
    return this.forward(query, raw, transport);
  }

  /** Counts one packet's outcome, also for packets a transport drops itself (a TCP frame over the size limit). */
  count(result: QueryResult | AnswerResult): void {
    this.deps.queries[result].inc();
  }

  /** The cached response to the query `raw` with cache key `key`, for the current view; null on a miss. */
  private cachedAnswer(key: string, raw: Buffer): ReturnType<AnswerCache['get']> {
    try {
      this.answerCache.useView(this.deps.getView());
    } catch {
      // The full path calls getView again and turns its failure into SERVFAIL.
      return null;
    }
    return this.answerCache.get(key, this.peekRotation(), raw);
  }

  private async forward(query: DecodedPacket, received: Buffer, transport: DnsTransport): Promise<Buffer | null> {
    // The UDP batch's bytes are reused once the batch returns; the forward outlives it.
    const raw = Buffer.from(received);
    const forwarder = this.forwarder;
    if (!forwarder || this.pendingForwards >= this.options.maxPendingForwards) {
      this.count('servfail');
      return this.encode(errorResponse(query, RCODE.SERVFAIL), query, raw, transport);
    }
    this.pendingForwards++;
    try {
      const response = await forwarder.forward(raw, transport);
      if (response) {
        this.count('forwarded');
        return response;
      }
    } catch (err) {
      this.deps.logger.warn({ err }, 'dns forward failed');
    } finally {
      this.pendingForwards--;
    }
    this.count('servfail');
    return this.encode(errorResponse(query, RCODE.SERVFAIL), query, raw, transport);
  }

  private encode(response: Packet, query: Packet, raw: Buffer, transport: DnsTransport): Buffer | null {
    return this.encodeOrNull(response, query, transport) ?? rawErrorResponse(raw, RCODE.SERVFAIL);
  }

  /** The encoded response, or null when dns-packet cannot encode it. */
  private encodeOrNull(response: Packet, query: Packet, transport: DnsTransport): Buffer | null {
    try {
      return encodeForUdp(response, transport === 'udp' ? udpResponseLimit(query) : TCP_MESSAGE_LIMIT);
    } catch (err) {
      // dns-packet decodes some names it cannot encode again (a label holding a dot).
      this.deps.logger.debug({ err }, 'dns response could not be encoded');
      return null;
    }
  }

  private nextRotation(): number {
    this.rotation = this.peekRotation();
    return this.rotation;
  }

  /** The rotation the next decoded query gets, without taking it. */
  private peekRotation(): number {
    return (this.rotation + 1) & 0x3fffffff;
  }
}
