/**
 * Secrets in netns mode: the task sees its secret at /run/secrets/<target>
 * through a bind mount in its own mount namespace (`ip netns exec` gives it
 * one), which the host does not see; the files live on the node's tmpfs
 * only while the task runs. Two lab hosts; the task runs on h1.
 */
import crypto from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Lab } from '../../src/net/lab';
import { ShoalLab } from '../../src/net/shoal-lab';

/** Files under /dev/shm holding `needle`. */
function shmFilesWith(needle: Buffer): string[] {
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(d, e.name);
      if (e.isDirectory()) return walk(p);
      try {
        return e.isFile() && readFileSync(p).includes(needle) ? [p] : [];
      } catch {
        return [];
      }
    });
  return walk('/dev/shm');
}

t.test('netns mode: the task reads /run/secrets/<target> in its own mount namespace', async (t) => {
  const stateRoot = mkdtempSync(path.join(os.tmpdir(), 'shoal-lab-secrets-'));
  const outside = mkdtempSync(path.join(os.tmpdir(), 'shoal-lab-secret-input-'));
  // The task's mkdir -p makes the (empty) mount point on the host: the test removes it if it made it.
  const mountPointExisted = existsSync('/run/secrets');
  t.teardown(() => {
    if (!mountPointExisted && existsSync('/run/secrets')) rmdirSync('/run/secrets');
  });
  const lab = await ShoalLab.create({ name: Lab.randomName('shs'), hosts: 2, dataplane: 'userspace', stateRoot, logFile: (k) => path.join(stateRoot, `h${k}.log`) });
  t.teardown(async () => {
    await lab.destroy();
    rmSync(stateRoot, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });
  const secret = `netns-secret-${crypto.randomBytes(12).toString('hex')}`;
  const file = path.join(outside, 'tok');
  writeFileSync(file, secret);
  let r = await lab.cli(['secret', 'create', 'tok', file]);
  t.equal(r.code, 0, r.stderr);
  const script = 'stat -c "mode=%a" /run/secrets/pw; echo "digest=$(sha256sum < /run/secrets/pw | cut -d" " -f1)"; echo "dir=$SHOAL_SECRETS_DIR"; exec sleep 600';
  r = await lab.cli(['service', 'create', '--name', 'reader', '--constraint', 'node.hostname==h1', '--secret', 'source=tok,target=pw,mode=0440', '--stop-grace-period', '1s', '-d', '--', 'sh', '-c', script]);
  t.equal(r.code, 0, r.stderr);
  const logs = await lab
    .waitFor('the task printed what it read', async () => {
      const out = (await lab.cli(['service', 'logs', 'reader'])).stdout;
      return out.includes('dir=') && out;
    }, 60_000)
    .catch(async (err: Error) => {
      // Why, for whoever reads the failure: the tasks' states and messages.
      t.comment((await lab.cli(['service', 'ps', 'reader', '--no-trunc'])).stdout);
      throw err;
    });
  t.match(logs, /mode=440/, 'the requested mode');
  t.match(logs, `digest=${crypto.createHash('sha256').update(secret).digest('hex')}`, 'the task read its secret at /run/secrets/pw');
  t.notOk(existsSync('/run/secrets/pw'), "the bind mount is the task's own: the host's /run/secrets has no pw");
  const held = shmFilesWith(Buffer.from(secret));
  t.equal(held.length, 1, `one copy, on the tmpfs (${held.join(', ')})`);

  r = await lab.cli(['service', 'rm', 'reader']);
  t.equal(r.code, 0, r.stderr);
  await lab.waitFor('the secret gone from the tmpfs', async () => shmFilesWith(Buffer.from(secret)).length === 0, 30_000);
  t.pass('gone after the task stopped');
});
