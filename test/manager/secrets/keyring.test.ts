import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { InvalidUnlockKeyError, SwarmLockedError } from '../../../src/errors';
import { KEY_FILE, SecretsKeyring } from '../../../src/manager/secrets/keyring';

function dir(t: tap.Test): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'shoal-keyring-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('without autolock the key is kept in a 0600 file and reloads unlocked', async (t) => {
  const d = dir(t);
  const a = await SecretsKeyring.open(d);
  t.notOk(a.locked());
  t.equal((statSync(path.join(d, KEY_FILE)).mode & 0o777).toString(8), '600');
  t.equal((statSync(path.dirname(path.join(d, KEY_FILE))).mode & 0o777).toString(8), '700');
  const b = await SecretsKeyring.open(d);
  t.same(b.dataKey(), a.dataKey(), 'the same key after a restart');
  t.throws(() => b.unlockKey(), /autolock is not enabled/);
  t.same(b.share(), { key: a.dataKey().toString('base64') });
});

t.test('autolock: the file holds the key wrapped; a restart is locked until the right unlock key', async (t) => {
  const d = dir(t);
  const a = await SecretsKeyring.open(d, { autolock: true });
  const unlock = a.unlockKey();
  t.match(unlock, /^SHOAL-KEY-1-[A-Za-z0-9_-]{43}$/);
  const text = readFileSync(path.join(d, KEY_FILE), 'utf8');
  t.notOk(text.includes(a.dataKey().toString('base64')), 'no clear key in the file');
  const b = await SecretsKeyring.open(d);
  t.ok(b.locked());
  t.throws(() => b.dataKey(), SwarmLockedError);
  t.throws(() => b.share(), SwarmLockedError);
  await t.rejects(b.unlockWith('SHOAL-KEY-1-' + 'A'.repeat(43)), InvalidUnlockKeyError);
  await t.rejects(b.unlockWith('nonsense'), /should look like SHOAL-KEY-1-/);
  t.ok(b.locked(), 'still locked after wrong keys');
  await b.unlockWith(` ${unlock}\n`);
  t.same(b.dataKey(), a.dataKey());
  t.same(b.share(), { key: a.dataKey().toString('base64'), unlockKey: unlock });
});

t.test('a joining manager takes the shared key and the autolock with it', async (t) => {
  const first = await SecretsKeyring.open(dir(t), { autolock: true });
  const d = dir(t);
  const joined = await SecretsKeyring.open(d, { shared: first.share() });
  t.same(joined.dataKey(), first.dataKey());
  t.ok(joined.autolock);
  const restarted = await SecretsKeyring.open(d);
  t.ok(restarted.locked());
  await restarted.unlockWith(first.unlockKey());
  t.same(restarted.dataKey(), first.dataKey());
});
