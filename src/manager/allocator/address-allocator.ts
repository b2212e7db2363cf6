/**
 * Task addresses in loopback mode: each task binds its own 127.100.x.y so
 * that `tasks.<svc>` names one address per task, as on an overlay
 * (DESIGN.md "Addresses"). Pure: built from the tasks the caller read.
 */
import { AddressPoolExhaustedError } from '../../errors';
import { TASK_POOL_FIRST, TASK_POOL_LAST, intToIp, ipToInt, isIPv4 } from '../../model/addresses';
import { isTerminal } from '../../model/types';
import type { Task } from '../../model/types';

/** Hands out the lowest pool addresses no live task holds; throws AddressPoolExhaustedError when the pool is spent. */
export function makeAddressAllocator(tasks: readonly Task[]): () => string {
  const used = new Set<number>();
  for (const t of tasks) {
    // A dead task that still wants to run keeps its address until the restart
    // policy has decided about it.
    if (!isTerminal(t.status.state) || t.desiredState === 'running') {
      if (isIPv4(t.address)) used.add(ipToInt(t.address));
    }
  }
  let next = TASK_POOL_FIRST;
  return () => {
    while (next <= TASK_POOL_LAST && used.has(next)) next++;
    if (next > TASK_POOL_LAST) throw new AddressPoolExhaustedError('task address pool exhausted: too many live tasks');
    used.add(next);
    return intToIp(next++);
  };
}
