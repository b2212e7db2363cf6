import { vipAddress } from '../../model/addresses';
import type { Node, Service } from '../../model/types';

/** How tasks are addressed: loopback mode's 127.x plan, or overlay networks in namespaces. */
export type NetworkMode = 'loopback' | 'netns';

/**
 * The VIP node `self` serves for a service: in loopback mode from the node's
 * own 127.(20+k) range, in netns mode the service's VIP on its first overlay
 * network (the one its tasks' first address is on). Null in dnsrr mode or
 * before the allocator gave one.
 */
export function serviceVip(mode: NetworkMode, self: Node, service: Service): string | null {
  if (service.spec.endpoint.mode !== 'vip') return null;
  if (mode === 'netns') return service.endpoint.virtualIPs?.[0]?.address ?? null;
  const index = service.endpoint.vipIndex;
  if (index === null) return null;
  try {
    return vipAddress(self.index, index);
  } catch {
    // An index outside the VIP range is an allocator bug; no VIP is better
    // than taking the whole table or view down with it.
    return null;
  }
}
