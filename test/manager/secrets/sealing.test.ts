import crypto from 'node:crypto';
import t from 'tap';
import { SecretKeyMismatchError } from '../../../src/errors';
import { keyIdOf, seal, unseal } from '../../../src/manager/secrets/sealing';

t.test('seal and unseal round-trip; the ciphertext hides the data', async (t) => {
  const key = crypto.randomBytes(32);
  const data = Buffer.from('correct horse battery staple');
  const a = seal(key, 'id1', data);
  const b = seal(key, 'id1', data);
  t.equal(unseal(key, 'id1', a).toString(), data.toString());
  t.not(a.nonce, b.nonce, 'a fresh nonce per seal');
  t.not(a.ciphertext, b.ciphertext);
  t.notOk(JSON.stringify(a).includes(data.toString()) || JSON.stringify(a).includes(data.toString('base64')), 'no clear or base64 data in the sealed object');
  t.equal(a.keyId, keyIdOf(key));
});

t.test('another key, another object id or a flipped bit do not open', async (t) => {
  const key = crypto.randomBytes(32);
  const s = seal(key, 'id1', Buffer.from('x'));
  t.throws(() => unseal(crypto.randomBytes(32), 'id1', s), SecretKeyMismatchError, 'another key');
  t.throws(() => unseal(key, 'id2', s), /does not decrypt/, 'moved to another object');
  const ct = Buffer.from(s.ciphertext, 'base64');
  ct[0] ^= 1;
  t.throws(() => unseal(key, 'id1', { ...s, ciphertext: ct.toString('base64') }), /damaged/, 'tampered');
});
