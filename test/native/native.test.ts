import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadNative, nativeLoadResult, NATIVE_ABI_VERSION, tryLoadNative } from '../../src/native/native';

t.test('SHOAL_NATIVE turns the addon off and says so', async (t) => {
  for (const value of ['0', 'false', 'off', 'no', ' OFF ']) {
    const result = tryLoadNative({ env: { SHOAL_NATIVE: value } });
    t.equal(result.addon, null, `SHOAL_NATIVE=${value}: no addon`);
    t.equal(result.status, 'disabled', `SHOAL_NATIVE=${value}: disabled`);
    t.equal(result.reason, `SHOAL_NATIVE=${value}`, 'the reason names the setting');
  }
  const on = tryLoadNative({ env: { SHOAL_NATIVE: '1' } });
  t.not(on.status, 'disabled', 'SHOAL_NATIVE=1 does not turn it off');
});

t.test('the process-wide load re-reads SHOAL_NATIVE on every call', async (t) => {
  const saved = process.env.SHOAL_NATIVE;
  t.teardown(() => {
    if (saved === undefined) delete process.env.SHOAL_NATIVE;
    else process.env.SHOAL_NATIVE = saved;
  });
  process.env.SHOAL_NATIVE = '0';
  t.equal(loadNative(), null);
  t.match(nativeLoadResult(), { status: 'disabled', reason: 'SHOAL_NATIVE=0' });
  delete process.env.SHOAL_NATIVE;
  t.not(nativeLoadResult().status, 'disabled', 'back on once the variable is gone');
});

t.test('a missing, broken or mismatched addon is null with a reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-native-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const missing = tryLoadNative({ env: {}, path: join(dir, 'absent.node') });
  t.match(missing, { addon: null, status: 'missing' });
  t.match(missing.reason, /^not built: .*absent\.node/);

  const garbage = join(dir, 'garbage.node');
  writeFileSync(garbage, 'not an ELF file');
  const broken = tryLoadNative({ env: {}, path: garbage });
  t.match(broken, { addon: null, status: 'failed' });
  t.match(broken.reason, /^cannot load .*garbage\.node: /);

  const other = join(dir, 'other-abi.js');
  writeFileSync(other, `module.exports = { abiVersion: ${NATIVE_ABI_VERSION + 1} };`);
  const mismatched = tryLoadNative({ env: {}, path: other });
  t.match(mismatched, { addon: null, status: 'failed' });
  t.match(mismatched.reason, /speaks interface \d+, this build needs \d+/);
});

t.test('the addon built by node-gyp loads, unless it was not built', async (t) => {
  const result = tryLoadNative({ env: {} });
  if (result.status === 'missing') {
    t.match(result.reason, /native\/build\/Release\/shoal_native\.node/, 'the reason names where it was looked for');
    return;
  }
  t.equal(result.status, 'loaded', result.reason);
  const addon = result.addon!;
  t.equal(addon.abiVersion, NATIVE_ABI_VERSION);
  t.equal(addon.arena.length, addon.maxBatch * addon.slotBytes, 'one slot per datagram of a batch');
  t.equal(addon.meta.length, addon.maxBatch * addon.metaFields);
  t.ok(addon.slotBytes > addon.maxDatagram, 'any IPv4 datagram fits a slot');
});

t.test('SHOAL_NATIVE_PATH names the addon file', async (t) => {
  const result = tryLoadNative({ env: { SHOAL_NATIVE_PATH: '/nonexistent/shoal_native.node' } });
  t.match(result, { addon: null, status: 'missing' });
  t.match(result.reason, /\/nonexistent\/shoal_native\.node/);
});
