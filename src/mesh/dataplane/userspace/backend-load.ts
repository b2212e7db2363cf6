import type { Backend } from '../../table/table';
import { backendKey } from './round-robin';

/**
 * Open connections (TCP) or flows (UDP) from this node per backend, for the
 * least-connections policy and the per-backend limit. 0 as the limit means
 * unlimited.
 */
export class BackendLoad {
  private readonly open = new Map<string, number>();

  constructor(public limit = 0) {}

  /** Connections or flows open now to `backend`. */
  count(backend: Backend): number {
    return this.open.get(backendKey(backend)) ?? 0;
  }

  /** Whether `backend` may take one more. */
  hasRoom(backend: Backend): boolean {
    return this.limit <= 0 || this.count(backend) < this.limit;
  }

  /** One more open to `backend`; returns the matching release, safe to call twice. */
  acquire(backend: Backend): () => void {
    const key = backendKey(backend);
    this.open.set(key, (this.open.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.open.get(key) ?? 1) - 1;
      if (n <= 0) this.open.delete(key);
      else this.open.set(key, n);
    };
  }
}
