/** Join tokens in Swarm's SWMTKN-1-<digest>-<secret> format: generation, parsing, bad tokens, the CA check and the secret check. */
import t from 'tap';
import { InvalidJoinTokenError } from '../../src/errors';
import { generateJoinToken, generateTokenSecret, parseToken, secretsEqual, tokenMatchesCa, tokenSecretMatches, digestToBase36 } from '../../src/pki/join-token';
import { caDigest, createRootCa } from '../../src/pki/root-ca';
import { OPENSSL, openssl } from '../support/pki';

t.test('a token carries the CA digest in base36 (50 chars) and a 25-char base36 secret', async (t) => {
  const root = await createRootCa();
  const token = generateJoinToken(root.certPem);
  t.match(token, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
  const parsed = parseToken(token);
  t.equal(parsed.version, 1);
  t.equal(parsed.caDigest, caDigest(root.certPem), 'the digest reads back as the hex SHA-256');
  t.equal(parsed.secret, token.slice(-25));
  t.ok(tokenMatchesCa(token, root.certPem));
  const other = await createRootCa();
  t.notOk(tokenMatchesCa(token, other.certPem), 'another CA does not match');
  t.ok(tokenMatchesCa(token, [other.certPem, root.certPem]), 'a bundle matches when one root does');
  t.notOk(tokenMatchesCa('SWMTKN-1-nope', root.certPem), 'a malformed token matches nothing');
});

t.test('the digest is the SHA-256 of the DER, as openssl computes it', { skip: !OPENSSL && 'no openssl' }, async (t) => {
  const root = await createRootCa();
  const der = openssl(['x509', '-outform', 'der'], root.certPem).stdout;
  const sha = openssl(['dgst', '-sha256', '-r'], der).stdout.toString().split(' ')[0];
  t.equal(caDigest(root.certPem), sha);
});

t.test('base36 digests are zero-padded to 50 characters', async (t) => {
  t.equal(digestToBase36('0'.repeat(64)), '0'.repeat(50));
  t.equal(digestToBase36('f'.repeat(64)).length, 50, 'the largest digest fits 50 characters');
  t.equal(digestToBase36('0'.repeat(63) + '1'), '0'.repeat(49) + '1');
});

t.test('two secrets differ, and a rotated token keeps the digest', async (t) => {
  const root = await createRootCa();
  const a = generateJoinToken(root.certPem);
  const b = generateJoinToken(root.certPem);
  t.not(parseToken(a).secret, parseToken(b).secret);
  t.equal(parseToken(a).caDigest, parseToken(b).caDigest);
  t.match(generateTokenSecret(), /^[0-9a-z]{25}$/);
});

t.test('bad tokens are InvalidJoinTokenError and never echo the token', async (t) => {
  const root = await createRootCa();
  const good = generateJoinToken(root.certPem);
  const digest = good.split('-')[2];
  const cases: [string, string][] = [
    ['', 'empty'],
    ['SWMTKN-1-abc-def', 'short parts'],
    [good.replace('SWMTKN', 'SWMTKX'), 'wrong prefix'],
    [good.replace('-1-', '-2-'), 'unknown version'],
    [good.slice(0, -1), 'secret one short'],
    [good + 'a', 'secret one long'],
    [good.toUpperCase(), 'upper case'],
    [`SWMTKN-1-${'z'.repeat(50)}-${'a'.repeat(25)}`, 'digest over 256 bits'],
    [`SWMTKN-1-${digest}-${'a'.repeat(24)}!`, 'a non-base36 character'],
    [`Bearer ${good}`, 'with a prefix'],
  ];
  for (const [token, why] of cases) {
    try {
      parseToken(token);
      t.fail(`${why}: parsed`);
    } catch (err) {
      t.type(err, InvalidJoinTokenError, why);
      t.equal((err as InvalidJoinTokenError).code, 'SHOAL_ERR_INVALID_JOIN_TOKEN', why);
      if (token.length > 10) t.notMatch((err as Error).message, token, `${why}: the message does not echo the token`);
    }
  }
  t.throws(() => generateJoinToken(root.certPem, 'short'), InvalidJoinTokenError);
});

t.test('the secret check compares in constant time and refuses other secrets', async (t) => {
  const root = await createRootCa();
  const secret = generateTokenSecret();
  const token = generateJoinToken(root.certPem, secret);
  t.ok(tokenSecretMatches(token, secret));
  t.notOk(tokenSecretMatches(token, generateTokenSecret()), 'a rotated secret refuses the old token');
  t.notOk(tokenSecretMatches('garbage', secret));
  t.ok(secretsEqual('abc', 'abc'));
  t.notOk(secretsEqual('abc', 'abcd'), 'different lengths do not throw');
  t.notOk(secretsEqual('', 'a'));
});
