/**
 * The DNS server suite again, on Node's dgram instead of the native addon:
 * the same cases must pass on both paths.
 */
import '../../native/force-js-fallback';
import t from 'tap';
import { nativeLoadResult } from '../../../src/native/native';
import './server.test';
import './server-bad-input.test';

t.test('this file runs without the addon', async (t) => {
  t.match(nativeLoadResult(), { addon: null, status: 'disabled', reason: 'SHOAL_NATIVE=0' });
});
