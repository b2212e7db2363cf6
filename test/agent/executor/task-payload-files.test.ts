import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { TaskPayloadsRequest, TaskPayloadsResponse } from '../../../src/api/contract';
import { findTmpfs, secretsMountArgv, TaskPayloadFiles } from '../../../src/agent/executor/task-payload-files';
import { makeService, makeTask } from '../../support/builders';

const b64 = (s: string) => Buffer.from(s).toString('base64');

t.test('writes a task its files on the tmpfs, with modes, and removes them', async (t) => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'shoal-payload-files-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const asked: TaskPayloadsRequest[] = [];
  const answer: TaskPayloadsResponse = {
    secrets: [{ id: 's1', name: 'db', file: { target: 'dir/pw', mode: 0o400 }, data: b64('pw1') }],
    configs: [{ id: 'c1', name: 'app', file: { target: '/etc/app.conf', mode: 0o444 }, data: b64('listen=80') }],
  };
  const files = new TaskPayloadFiles(async (req) => (asked.push(req), answer), { stateDir, tmpfsCandidates: ['/dev/shm'] });
  const task = makeTask('task1', makeService('svc'));
  const p = await files.prepare('n1', task);
  t.same(asked, [{ nodeId: 'n1', taskId: 'task1' }]);
  t.ok(p.env.SHOAL_SECRETS_DIR.startsWith('/dev/shm/shoal-'), p.env.SHOAL_SECRETS_DIR);
  const pw = path.join(p.env.SHOAL_SECRETS_DIR, 'dir', 'pw');
  t.equal(readFileSync(pw, 'utf8'), 'pw1');
  t.equal((statSync(pw).mode & 0o777).toString(8), '400');
  t.equal((statSync(path.dirname(p.env.SHOAL_SECRETS_DIR)).mode & 0o777).toString(8), '700', 'the task dir is 0700');
  t.equal(readFileSync(path.join(p.env.SHOAL_CONFIGS_DIR, 'etc', 'app.conf'), 'utf8'), 'listen=80');
  t.equal(p.secretsDir, p.env.SHOAL_SECRETS_DIR);
  const root = path.dirname(path.dirname(p.env.SHOAL_SECRETS_DIR));
  await files.release('task1');
  t.notOk(existsSync(path.dirname(p.env.SHOAL_SECRETS_DIR)), 'the task dir is gone');
  t.notOk(existsSync(root), "the daemon's empty root is gone too");
  await files.prepare('n1', task);
  await files.cleanup();
  t.notOk(existsSync(root), "cleanup removes what a previous run left");
});

t.test('no tmpfs: refused, never written to disk', async (t) => {
  await t.rejects(findTmpfs([os.tmpdir(), '/nonexistent']), /no tmpfs for secrets/);
});

t.test('netns: the secrets dir is bound at /run/secrets inside the task, then the command runs', async (t) => {
  const argv = secretsMountArgv('/dev/shm/x/secrets', { file: 'setpriv', args: ['--pdeathsig', 'KILL', 'node', 'app.js'] });
  t.equal(argv.file, 'sh');
  t.same(argv.args.slice(2), ['/dev/shm/x/secrets', 'setpriv', '--pdeathsig', 'KILL', 'node', 'app.js']);
  t.match(argv.args[1], /mount --bind "\$0" \/run\/secrets && exec "\$@"/);
});
