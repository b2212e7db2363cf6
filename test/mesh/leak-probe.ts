/**
 * What a soak test measures to tell a leak from noise: the handles (sockets,
 * servers, child processes) keeping the event loop alive, and the memory left
 * after a full garbage collection.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Runs a full garbage collection; tap starts node without --expose-gc, so the flag is turned on here. */
export const collectGarbage: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  // A fresh context sees the flag: it gets its own `gc` global.
  return runInNewContext('gc') as () => void;
})();

/** Handles keeping the event loop alive now: open sockets, servers, child processes. */
export function activeHandles(): number {
  return (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
}

/** Bytes held after a full collection: the JS heap plus Buffers and other memory outside it. */
export function retainedBytes(): number {
  collectGarbage();
  collectGarbage();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}
