import t from 'tap';
import { checkPayloadSize, normaliseTarget, parsePayloadFlag, validatePayloadCreate, validatePayloadName, validatePayloadRefs } from '../../src/spec/payload';
import { validateServiceSpec } from '../../src/spec/service-spec';

t.test('names as Docker validates them', async (t) => {
  for (const ok of ['db', 'db-pass', 'a.b_c-1', 'A1', 'x'.repeat(64)]) t.equal(validatePayloadName(ok, 'secret'), ok, ok);
  for (const bad of ['', '-db', 'db-', 'no/slash', 'sp ace', '.x', 'x'.repeat(65)]) t.throws(() => validatePayloadName(bad, 'secret'), /secret name/, JSON.stringify(bad));
});

t.test('sizes: 1 byte to 500 KiB for secrets, 1000 KiB for configs', async (t) => {
  t.doesNotThrow(() => checkPayloadSize(1, 'secret'));
  t.doesNotThrow(() => checkPayloadSize(500 * 1024, 'secret'));
  t.throws(() => checkPayloadSize(500 * 1024 + 1, 'secret'), /secret data is 512001 bytes: at most 512000 \(500 KiB\)/);
  t.doesNotThrow(() => checkPayloadSize(1000 * 1024, 'config'));
  t.throws(() => checkPayloadSize(0, 'config'), /config data must not be empty/);
});

t.test('create bodies carry base64 data', async (t) => {
  const ok = validatePayloadCreate({ name: 'db', data: Buffer.from('pw').toString('base64'), labels: { a: 'b' } }, 'secret');
  t.same([ok.name, ok.labels, ok.data.toString()], ['db', { a: 'b' }, 'pw']);
  t.throws(() => validatePayloadCreate({ name: 'db', data: 'not base64!' }, 'secret'), /secret data must be base64/);
  t.throws(() => validatePayloadCreate({ name: 'db' }, 'config'), /config data must be base64/);
  t.throws(() => validatePayloadCreate({ name: 'db', data: 'cHc=', labels: { a: 1 } }, 'secret'), /label a/);
});

t.test('targets: secrets under /run/secrets, configs absolute, never ..', async (t) => {
  const ok: [string, 'secret' | 'config', string][] = [
    ['pw', 'secret', 'pw'],
    ['dir/pw', 'secret', 'dir/pw'],
    ['/run/secrets/pw', 'secret', 'pw'],
    ['./pw', 'secret', 'pw'],
    ['/etc/app.conf', 'config', '/etc/app.conf'],
    ['/etc//app.conf', 'config', '/etc/app.conf'],
  ];
  for (const [target, kind, want] of ok) t.equal(normaliseTarget(target, kind), want, `${kind} ${target}`);
  const bad: [string, 'secret' | 'config', RegExp][] = [
    ['../x', 'secret', /must not contain "\.\."/],
    ['a/../../x', 'secret', /must not contain "\.\."/],
    ['/etc/../x', 'config', /must not contain "\.\."/],
    ['/etc/passwd', 'secret', /must be under \/run\/secrets\//],
    ['app.conf', 'config', /must be an absolute path/],
    ['/', 'config', /must name a file/],
    ['', 'secret', /invalid secret target/],
    ['dir/', 'secret', /must name a file/],
  ];
  for (const [target, kind, re] of bad) t.throws(() => normaliseTarget(target, kind), re, `${kind} ${JSON.stringify(target)}`);
});

t.test('--secret and --config values, Docker syntax and defaults', async (t) => {
  t.same(parsePayloadFlag('db', 'secret'), { id: '', name: 'db', file: { target: 'db', mode: 0o444 } });
  t.same(parsePayloadFlag('app', 'config'), { id: '', name: 'app', file: { target: '/app', mode: 0o444 } });
  t.same(parsePayloadFlag('source=db,target=pw,mode=0400,uid=1000,gid=1001', 'secret'), { id: '', name: 'db', file: { target: 'pw', mode: 0o400, uid: 1000, gid: 1001 } });
  t.same(parsePayloadFlag('src=app,target=/etc/app.conf', 'config').file.target, '/etc/app.conf');
  const bad: [string, RegExp][] = [
    ['target=pw', /source is required/],
    ['source=db,colour=blue', /use source=NAME/],
    ['source=db,mode=999', /use octal/],
    ['source=db,mode=1777', /at most 0777/],
    ['source=db,uid=-1', /invalid secret uid/],
    ['source=db,target=../x', /must not contain/],
    ['', /needs a secret name/],
  ];
  for (const [v, re] of bad) t.throws(() => parsePayloadFlag(v, 'secret'), re, v);
});

t.test('a spec keeps its references, checked, with defaults', async (t) => {
  t.equal(validatePayloadRefs(undefined, 'secret'), undefined);
  t.same(validatePayloadRefs([{ name: 'db' }], 'secret'), [{ id: '', name: 'db', file: { target: 'db', mode: 0o444 } }]);
  t.throws(() => validatePayloadRefs([{ name: 'a', file: { target: 'x' } }, { name: 'b', file: { target: 'x' } }], 'secret'), /target x is used twice/);
  t.throws(() => validatePayloadRefs([{ name: 'a', file: { mode: 0o1000 } }], 'secret'), /invalid secret file mode/);
  t.throws(() => validatePayloadRefs('db', 'config'), /configs must be a list/);
  const spec = validateServiceSpec({ name: 'web', task: { command: ['x'], secrets: [{ name: 'db', file: { target: '/run/secrets/pw' } }], configs: [{ name: 'app' }] } });
  t.same(spec.task.secrets, [{ id: '', name: 'db', file: { target: 'pw', mode: 0o444 } }]);
  t.same(spec.task.configs, [{ id: '', name: 'app', file: { target: '/app', mode: 0o444 } }]);
  t.notOk('secrets' in validateServiceSpec({ name: 'web', task: { command: ['x'] } }).task, 'no references, no field');
});
