/**
 * Imported first by the `*-js-fallback.test.ts` files, before anything that
 * builds a socket: every UDP frontend and DNS server in that test process
 * takes the dgram fallback, so the same suites run without the addon.
 */
process.env.SHOAL_NATIVE = '0';
