/**
 * A node's client of the managers: every manager it knows, the one that
 * answered last first. A call or stream that cannot reach its manager goes to
 * the next one, so a worker rides out the loss of the manager it joined
 * through without restarting anything; the managers tell it who they are
 * (register and heartbeat answers), and it learns managers added later.
 */
import type { WatchLine } from './contract';
import { ApiClient, parseEndpoint, type ApiClientOptions } from './client';
import { UnavailableError } from '../errors';

/** The managers' API as a node uses it. */
export class ManagerClient {
  private clients: { addr: string; client: ApiClient }[];

  constructor(
    managerAddr: string,
    private options: ApiClientOptions,
  ) {
    this.clients = [{ addr: managerAddr, client: new ApiClient(parseEndpoint(managerAddr), options) }];
  }

  /** The addresses it knows, the current one first. */
  managers(): string[] {
    return this.clients.map((c) => c.addr);
  }

  /** Take the managers' own list (host:port of each manager API); one it knew and no longer hears of is dropped, unless it is the current one. */
  setManagers(addrs: readonly string[]): void {
    if (addrs.length === 0) return;
    const [current, ...rest] = this.clients;
    const keep = rest.filter((c) => addrs.includes(c.addr));
    for (const c of rest) if (!keep.includes(c)) void c.client.close();
    const known = new Set([current.addr, ...keep.map((c) => c.addr)]);
    const added = addrs.filter((a) => !known.has(a)).map((addr) => ({ addr, client: new ApiClient(parseEndpoint(addr), this.options) }));
    this.clients = [current, ...keep, ...added];
  }

  /** A renewed certificate or a new trust bundle: every later call uses it (calls under way finish on the old connections). */
  setCredentials(tls: NonNullable<ApiClientOptions['tls']>): void {
    this.options = { ...this.options, tls };
    const old = this.clients;
    this.clients = old.map((c) => ({ addr: c.addr, client: new ApiClient(parseEndpoint(c.addr), this.options) }));
    for (const c of old) void c.client.close();
  }

  call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return this.failover((c) => c.call<T>(method, path, body));
  }

  watch(prefixes: string[], onLine: (line: WatchLine) => void, signal?: AbortSignal): Promise<void> {
    return this.failover((c) => c.watch(prefixes, onLine, signal));
  }

  stream<T>(path: string, onLine: (line: T) => void, signal?: AbortSignal): Promise<void> {
    return this.failover((c) => c.stream<T>(path, onLine, signal));
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.client.close()));
  }

  /** Try each manager once, from the current one on; the first that is reached becomes current. */
  private async failover<T>(run: (client: ApiClient) => Promise<T>): Promise<T> {
    let last: unknown;
    for (let i = 0; i < this.clients.length; i++) {
      const entry = this.clients[0];
      try {
        return await run(entry.client);
      } catch (err) {
        if (!(err instanceof UnavailableError) || this.clients.length === 1) throw err;
        last = err;
        // Rotate: the next call starts at the next manager.
        if (this.clients[0] === entry) this.clients = [...this.clients.slice(1), entry];
      }
    }
    throw last;
  }
}
