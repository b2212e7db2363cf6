/**
 * The userspace dataplane suites again (the compliance suite and the
 * userspace tests with UDP cases), on Node's dgram instead of the native
 * addon: the same cases must pass on both paths.
 */
import '../../native/force-js-fallback';
import t from 'tap';
import { nativeLoadResult } from '../../../src/native/native';
import './userspace.test';
import './userspace/userspace-dataplane.test';
import './userspace/lb-settings.test';

t.test('this file runs without the addon', async (t) => {
  t.match(nativeLoadResult(), { addon: null, status: 'disabled', reason: 'SHOAL_NATIVE=0' });
});
