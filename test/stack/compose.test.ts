/**
 * The pure cores of `shoal stack`: interpolation and `.env`, YAML errors,
 * merging of -c files, the schema's one-line errors and warnings, the
 * command and port forms, and the plan/diff that decides what a second
 * deploy touches.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Network, Service } from '../../src/model/types';
import { loadComposeFiles, mergeCompose, parseComposeYaml } from '../../src/stack/compose-file';
import { validateComposeDocument } from '../../src/stack/compose-schema';
import { commandArgv, composePorts } from '../../src/stack/compose-service';
import { interpolate, parseDotEnv } from '../../src/stack/interpolate';
import { diffStack, type Observed } from '../../src/stack/stack-diff';
import { planStack, validateStackName } from '../../src/stack/stack-plan';
import { makeNetwork, T0 } from '../support/builders';

t.test('interpolation as compose does it', async (t) => {
  const vars = { A: 'a', EMPTY: '', N: '3' };
  const ok: [string, string][] = [
    ['$A-${A}', 'a-a'],
    ['${UNSET:-dflt}', 'dflt'],
    ['${EMPTY:-dflt}', 'dflt'],
    ['${EMPTY-dflt}', ''],
    ['${A:+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['${UNSET:-${A}x}', 'ax'],
    ['$$A costs $5', '$A costs $5'],
    ['replicas: ${N}', 'replicas: 3'],
  ];
  for (const [input, want] of ok) t.equal(interpolate(input, vars, 'x'), want, input);
  const notes = { unset: new Set<string>() };
  t.equal(interpolate('${NOPE}', vars, 'x', notes), '', 'an unset variable is blank');
  t.same([...notes.unset], ['NOPE'], 'and noted for a warning');
  t.throws(() => interpolate('${UNSET:?give it}', vars, 'services.web.image'), /^services\.web\.image: required variable UNSET is not set: give it$/);
  t.throws(() => interpolate('${EMPTY:?}', vars, 'k'), /required variable EMPTY is empty/);
  t.throws(() => interpolate('${A', vars, 'k'), /unclosed/);
  t.throws(() => interpolate('${1A}', vars, 'k'), /invalid interpolation format/);
});

t.test('.env files', async (t) => {
  t.same(parseDotEnv('# c\nexport A=1\nB = "x\\ny" \nC=\'$lit\'\nD=v # comment\n\n', '.env'), { A: '1', B: 'x\ny', C: '$lit', D: 'v' });
  t.throws(() => parseDotEnv('A=1\nnot a line\n', '/s/.env'), /^\/s\/\.env:2: invalid line "not a line"/);
});

t.test('YAML: errors name file, line and column; 0400 is octal as in YAML 1.1', async (t) => {
  t.throws(() => parseComposeYaml('services:\n  web:\n    command: [node, x\n    ports: ["1:2"]\n', 'f.yml'), /^f\.yml:4:5: invalid YAML: /);
  t.throws(() => parseComposeYaml('services:\n  a: 1\n  a: 2\n', 'f.yml'), /^f\.yml:3:3: invalid YAML: Map keys must be unique/);
  t.throws(() => parseComposeYaml('', 'f.yml'), /empty compose file/);
  t.throws(() => parseComposeYaml('- a\n', 'f.yml'), /must be a mapping/);
  t.same(parseComposeYaml('mode: 0400\nplain: 0o400\n', 'f.yml'), { mode: 0o400, plain: 0o400 });
});

t.test('merging -c files', async (t) => {
  const base = { services: { web: { command: ['a', 'b'], environment: { A: '1' }, ports: ['80'], deploy: { replicas: 1, labels: { x: '1' } } } } };
  const over = { services: { web: { command: ['c'], environment: { B: '2' }, ports: ['80', '81'], deploy: { replicas: 3 } }, db: { command: ['d'] } } };
  t.same(mergeCompose(base, over), {
    services: {
      web: { command: ['c'], environment: { A: '1', B: '2' }, ports: ['80', '81'], deploy: { replicas: 3, labels: { x: '1' } } },
      db: { command: ['d'] },
    },
  });
});

t.test('the schema: one line with the path, warnings for keys shoal ignores', async (t) => {
  const svc = (extra: Record<string, unknown>) => ({ services: { web: { command: ['x'], ...extra } } });
  const bad: [unknown, RegExp][] = [
    [svc({ deploy: { replicas: 'many' } }), /^f\.yml: services\.web\.deploy\.replicas: must be integer$/],
    [{ ...svc({}), servicez: {} }, /^f\.yml: additional property servicez is not allowed$/],
    [svc({ replica: 2 }), /^f\.yml: services\.web: additional property replica is not allowed$/],
    [svc({ deploy: { mode: 'everywhere' } }), /services\.web\.deploy\.mode: must be one of/],
    [svc({ deploy: { update_config: { order: 'sideways' } } }), /services\.web\.deploy\.update_config\.order: must be one of/],
  ];
  for (const [doc, re] of bad) t.throws(() => validateComposeDocument(doc as Record<string, unknown>, 'f.yml'), re, String(re));
  const { warnings } = validateComposeDocument(svc({ volumes: ['/data:/data'], privileged: true, build: '.' }) as Record<string, unknown>, 'f.yml');
  for (const k of ['volumes', 'privileged', 'build']) t.ok(warnings.some((w) => w.startsWith(`services.web: ${k} is not supported by shoal`)), `${k} warned`);
  t.ok(validateComposeDocument(svc({ deploy: { replicas: '2' } }) as Record<string, unknown>, 'f.yml'), 'a number given as a string (from interpolation) is accepted');
});

t.test('command and port forms', async (t) => {
  t.same(commandArgv('node "my app.js" --port=$PORT', 'c'), ['node', 'my app.js', '--port=$PORT'], 'a string splits as a shell would, $VAR kept for the task');
  t.same(commandArgv(['sh', '-c', 'a && b'], 'c'), ['sh', '-c', 'a && b']);
  t.throws(() => commandArgv('a && b', 'services.web.command'), /^services\.web\.command: "a && b" needs a shell \(&&\): write \[sh, -c, "\.\.\."\]$/);
  const w: string[] = [];
  t.match(composePorts(['8080:80', '53:53/udp', '9000-9001:90-91', { target: 7, published: 7007, mode: 'host' }], 's', w), [
    { publishedPort: 8080, targetPort: 80, protocol: 'tcp' },
    { publishedPort: 53, targetPort: 53, protocol: 'udp' },
    { publishedPort: 9000, targetPort: 90 },
    { publishedPort: 9001, targetPort: 91 },
    { publishedPort: 7007, targetPort: 7, publishMode: 'host' },
  ]);
  t.same(w, []);
  composePorts(['127.0.0.1:8081:81'], 's', w);
  t.match(w[0], /host IP 127\.0\.0\.1 is not supported/);
  t.throws(() => composePorts(['99999:80'], 's', []), /invalid port "99999"/);
});

t.test('stack names', async (t) => {
  for (const ok of ['vote', 'my-stack.v2', 'a']) t.equal(validateStackName(ok), ok);
  for (const bad of ['a_b', 'a b', '-a', '', 'x'.repeat(33)]) t.throws(() => validateStackName(bad), /invalid stack name/, JSON.stringify(bad));
});

t.test('plan and diff: only what changed is touched', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shoal-stack-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'stack.yml');
  writeFileSync(path.join(dir, '.env'), 'N=2\n');
  writeFileSync(file, 'services:\n  web:\n    command: [node, web.js]\n    deploy: {replicas: "${N}"}\n    ports: ["8080:80"]\n  api:\n    command: [node, api.js]\n    ports: ["8080:81"]\n');
  t.throws(() => planStack(loadComposeFiles([file], {}), 's', []), /^services web and api both publish port 8080\/tcp$/, 'a port conflict between two services');

  writeFileSync(file, 'services:\n  web:\n    command: [node, web.js]\n    deploy: {replicas: "${N}"}\n  api:\n    command: [node, api.js]\n');
  const plan = planStack(loadComposeFiles([file], {}), 's', []);
  t.same(plan.services.map((s) => [s.name, s.replicas]), [['s_web', 2], ['s_api', 1]], 'names and the .env value');
  t.same(plan.networks.map((n) => n.name), ['s_default'], 'the default network of the stack');
  t.same(diffStack(plan, { services: [], networks: [], secrets: [], configs: [] }, false).create.map((s) => s.name), ['s_web', 's_api'], 'a first deploy creates all');

  const net = makeNetwork('n1', '10.0.9.0/24', { name: 's_default', labels: { 'com.docker.stack.namespace': 's' } } as Partial<Network>);
  const stored = (spec: (typeof plan.services)[number], id: string): Service => ({
    id,
    version: 1,
    createdAt: new Date(T0).toISOString(),
    updatedAt: new Date(T0).toISOString(),
    spec: { ...spec, networks: (spec.networks ?? []).map(() => 'n1') },
  }) as unknown as Service;
  const observed: Observed = { services: [stored(plan.services[0], 'w'), stored(plan.services[1], 'a')], networks: [net], secrets: [], configs: [] };
  const same = diffStack(plan, observed, false);
  t.same([same.create.length, same.update.length, same.unchanged.map((s) => s.id)], [0, 0, ['w', 'a']], 'the same file changes nothing');

  const changed = planStack(loadComposeFiles([file], { N: '4' }), 's', []);
  const d = diffStack(changed, observed, false);
  t.same(d.update.map((u) => [u.current.id, u.spec.replicas]), [['w', 4]], 'only web updates');
  t.same(d.unchanged.map((s) => s.id), ['a'], 'api is left alone');

  writeFileSync(file, 'services:\n  web:\n    command: [node, web.js]\n    deploy: {replicas: "${N}"}\n');
  const fewer = planStack(loadComposeFiles([file], {}), 's', []);
  t.same(diffStack(fewer, observed, false).stale.map((s) => s.id), ['a'], 'without --prune, api is kept and reported');
  t.same(diffStack(fewer, observed, true).remove.map((s) => s.id), ['a'], 'with --prune, api is removed');

  const foreign = { ...observed, services: [{ ...observed.services[0], spec: { ...observed.services[0].spec, labels: {} } }] };
  t.throws(() => diffStack(plan, foreign, false), /^service s_web exists and is not part of stack s$/, 'a service of the same name outside the stack is refused');
});
