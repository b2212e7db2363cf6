/**
 * Which frontends the nftables dataplane can serve. Kernel NAT picks a
 * backend once, on a connection's first packet, and then only rewrites
 * addresses: it cannot write a PROXY protocol header, count or cap open
 * connections, close idle ones, or retry a refused connect on another
 * backend. A frontend that asks for any of that stays in userspace even when
 * the kernel path exists; the mesh splits the table with kernelCapable().
 */
import { isIPv4 } from '../../../model/addresses';
import type { Frontend } from '../../table/table';

/** Why the kernel path cannot serve this frontend, or undefined when it can. */
export function kernelBlocker(frontend: Frontend): string | undefined {
  if (frontend.proxyProtocol) return 'PROXY protocol headers are written by the userspace dataplane only';
  const lb = frontend.lb ?? {};
  if ((lb.idleTimeoutMs ?? 0) > 0) return 'an idle timeout needs the userspace dataplane (kernel NAT never closes a connection)';
  if ((lb.maxConnections ?? 0) > 0) return 'a connection limit needs the userspace dataplane';
  if ((lb.maxConnectionsPerBackend ?? 0) > 0) return 'a per-backend connection limit needs the userspace dataplane';
  if (!isIPv4(frontend.address)) return `address ${frontend.address} is not IPv4 (the nftables table is family ip)`;
  const v6 = frontend.backends.find((b) => !isIPv4(b.address));
  if (v6) return `backend address ${v6.address} is not IPv4 (the nftables table is family ip)`;
  return undefined;
}

/** Whether the nftables dataplane can serve this frontend exactly as the userspace one would, minus retries. */
export function kernelCapable(frontend: Frontend): boolean {
  return kernelBlocker(frontend) === undefined;
}
