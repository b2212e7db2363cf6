/**
 * The native TCP relay's thread bounds, apart from the dataplane so that the
 * CLI can check `--relay-threads` without loading the relay and its metrics.
 */

/** Default threads of the native TCP relay: one, as HAProxy's nbthread 1. */
export const DEFAULT_RELAY_THREADS = 1;
/** Most threads the native TCP relay takes (the addon refuses more). */
export const MAX_RELAY_THREADS = 64;
