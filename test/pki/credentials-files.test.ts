/** Credentials on disk: key files 0600, atomic writes, load refuses a key that does not match its certificate. */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { CertificateInvalidError } from '../../src/errors';
import { CREDENTIAL_FILES, loadNodeCredentials, loadRootCa, saveNodeCredentials, saveRootCa, writeFileAtomic } from '../../src/pki/credentials-files';
import { testCa } from '../support/pki';

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'shoal-pki-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

const mode = async (f: string) => (await fs.stat(f)).mode & 0o777;

t.test('save then load gives the same credentials; the key is 0600, the directory 0700', async (t) => {
  const dir = path.join(await tempDir(t), 'certificates');
  const ca = await testCa();
  const creds = await ca.node('n1', 'worker');
  t.equal(await loadNodeCredentials(dir), null, 'nothing saved yet');
  await saveNodeCredentials(dir, creds);
  t.same(await loadNodeCredentials(dir), creds);
  t.equal(await mode(path.join(dir, CREDENTIAL_FILES.key)), 0o600);
  t.equal(await mode(path.join(dir, CREDENTIAL_FILES.cert)), 0o644);
  t.equal(await mode(dir), 0o700);
  t.same((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  const renewed = await ca.node('n1', 'worker');
  await saveNodeCredentials(dir, renewed);
  t.same(await loadNodeCredentials(dir), renewed, 'a renewal replaces the files');
});

t.test('a key that does not match its certificate, or missing files, are refused', async (t) => {
  const dir = await tempDir(t);
  const ca = await testCa();
  const a = await ca.node('n1', 'worker');
  const b = await ca.node('n1', 'worker');
  await saveNodeCredentials(dir, { ...a, keyPem: b.keyPem });
  await t.rejects(loadNodeCredentials(dir), CertificateInvalidError);
  await fs.rm(path.join(dir, CREDENTIAL_FILES.bundle));
  await t.rejects(loadNodeCredentials(dir), CertificateInvalidError);
});

t.test('the root CA saves with its key 0600 and loads back', async (t) => {
  const dir = await tempDir(t);
  const ca = await testCa();
  t.equal(await loadRootCa(dir), null);
  await saveRootCa(dir, ca.root);
  t.same(await loadRootCa(dir), ca.root);
  t.equal(await mode(path.join(dir, CREDENTIAL_FILES.rootKey)), 0o600);
});

t.test('an atomic write replaces the file whole and keeps the mode exact under any umask', async (t) => {
  const dir = await tempDir(t);
  const f = path.join(dir, 'x');
  await fs.writeFile(f, 'old', { mode: 0o666 });
  await writeFileAtomic(f, 'new', 0o600);
  t.equal(await fs.readFile(f, 'utf8'), 'new');
  t.equal(await mode(f), 0o600);
  await t.rejects(writeFileAtomic(path.join(dir, 'missing', 'y'), 'z', 0o600), { code: 'ENOENT' });
});
