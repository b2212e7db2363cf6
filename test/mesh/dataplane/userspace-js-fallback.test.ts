/**
 * The userspace dataplane suites again (the compliance suite, the
 * dataplane, policy, limit and PROXY protocol tests), on Node's net and dgram
 * instead of the native addon's TCP relay and UDP sockets: the same cases
 * must pass on both paths.
 */
import '../../native/force-js-fallback';
import t from 'tap';
import { nativeLoadResult } from '../../../src/native/native';
import './userspace.test';
import './userspace/userspace-dataplane.test';
import './userspace/lb-settings.test';
import './userspace/proxy-protocol.test';

t.test('this file runs without the addon', async (t) => {
  t.match(nativeLoadResult(), { addon: null, status: 'disabled', reason: 'SHOAL_NATIVE=0' });
});
