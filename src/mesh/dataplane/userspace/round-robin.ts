import type { Backend } from '../../table/table';

/** Identity of a backend for "tried already": its task id at its address. */
export function backendKey(backend: Backend): string {
  return `${backend.id}@${backend.address}:${backend.port}`;
}

/**
 * Smooth weighted round-robin (nginx's algorithm) over the backends of one
 * frontend. With equal weights it is a plain rotation in list order; weight 0
 * (draining) backends get nothing new. The rotation state survives backend
 * list swaps for the backends that stay, so an apply does not restart it.
 */
export class RoundRobin {
  private backends: readonly Backend[] = [];
  private readonly current = new Map<string, number>();

  /** Replace the backend list, keeping the rotation state of backends that stay. */
  setBackends(backends: readonly Backend[]): void {
    this.backends = backends;
    const ids = new Set(backends.map((b) => b.id));
    for (const id of this.current.keys()) if (!ids.has(id)) this.current.delete(id);
  }

  /** Whether `backend` is still in the list, at the same address, and takes new traffic. */
  isLive(backend: Backend): boolean {
    return this.backends.some(
      (b) => b.id === backend.id && b.address === backend.address && b.port === backend.port && b.weight > 0,
    );
  }

  /**
   * Backends to try for one new connection or flow: the round-robin pick
   * first, then every other live backend once, as fallbacks when a connect
   * fails. Empty when no backend takes new traffic.
   */
  next(): Backend[] {
    const live = this.backends.filter((b) => b.weight > 0);
    if (live.length === 0) return [];
    let total = 0;
    let best = 0;
    let bestScore = -Infinity;
    live.forEach((b, i) => {
      const score = (this.current.get(b.id) ?? 0) + b.weight;
      this.current.set(b.id, score);
      total += b.weight;
      if (score > bestScore) {
        best = i;
        bestScore = score;
      }
    });
    this.current.set(live[best].id, bestScore - total);
    return [...live.slice(best), ...live.slice(0, best)];
  }

  /**
   * One smooth weighted round-robin step over the live backends `eligible`
   * accepts (the others keep their state untouched); undefined when none is.
   */
  pickAmong(eligible: (backend: Backend) => boolean): Backend | undefined {
    let total = 0;
    let best: Backend | undefined;
    let bestScore = -Infinity;
    for (const b of this.backends) {
      if (b.weight <= 0 || !eligible(b)) continue;
      const score = (this.current.get(b.id) ?? 0) + b.weight;
      this.current.set(b.id, score);
      total += b.weight;
      if (score > bestScore) {
        best = b;
        bestScore = score;
      }
    }
    if (best) this.current.set(best.id, bestScore - total);
    return best;
  }

  /**
   * The backend a connection should try after its previous ones failed: the
   * first of `preferred` (the order picked when the connection arrived) that
   * is still live and not in `tried`, else any live backend the list gained
   * since. Reads the current list, so a backend drained (weight 0) or removed
   * meanwhile is never tried. Does not move the rotation.
   */
  nextUntried(preferred: readonly Backend[], tried: ReadonlySet<string>): Backend | undefined {
    const untried = (b: Backend) => !tried.has(backendKey(b));
    return preferred.find((b) => untried(b) && this.isLive(b)) ?? this.backends.find((b) => b.weight > 0 && untried(b));
  }
}
