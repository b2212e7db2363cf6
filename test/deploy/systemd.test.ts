/**
 * deploy/systemd: every flag the units and shoal.env name is one `shoal
 * daemon` knows, every variable shoal.service expands is documented in
 * shoal.env, and the unit works: its ExecStartPre and ExecStart, expanded as
 * systemd expands them from an environment file written the way shoal.env's
 * comments say, refuse a missing address in one line, then start a manager
 * that answers `node ls` and stops by itself on SIGTERM within the unit's
 * TimeoutStopSec. systemd itself is not run (the suite has no init to drive);
 * /usr/bin/env shoal becomes this build's CLI and /var/lib/shoal a temp dir.
 * Address block 127.0.77.x, DNS port 5377: no other test uses them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { eventually, within } from '../support/eventually';
import { CLI, SILENT_UPSTREAM, clusterWait, runCli, tempDir, type NodeRow } from '../integration/cluster-fixture';

const ROOT = path.resolve(__dirname, '../../..');
const SYSTEMD = path.join(ROOT, 'deploy', 'systemd');
const ADDR = '127.0.77.1';
const DNS_PORT = 5377;

const read = (name: string) => readFileSync(path.join(SYSTEMD, name), 'utf8');

/** The value of `Key=` in a unit file (the last one, as systemd takes it for single-valued keys). */
function unitKey(unit: string, key: string): string {
  const values = unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  if (values.length === 0) throw new Error(`no ${key}= in the unit`);
  return values[values.length - 1];
}

/** KEY=VALUE lines of an EnvironmentFile: comments skipped, one level of quotes removed. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    env[m[1]] = m[2].replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return env;
}

/**
 * A command line as systemd.service(5) expands it: `${VAR}` inside a word is
 * replaced by the value as it is; a word that is only `$VAR` becomes the
 * value split at whitespace (zero or more words).
 */
function expandExec(line: string, env: Record<string, string>): string[] {
  return line.trim().split(/\s+/).flatMap((word) => {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole) return (env[whole[1]] ?? '').split(/\s+/).filter(Boolean);
    return [word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k: string) => env[k] ?? '')];
  });
}

/** Variables a unit line expands, `$$` (a literal dollar for the shell) left out. */
function expandedVars(line: string): string[] {
  const names = [...line.replace(/\$\$/g, '').matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g)].map((m) => m[1]);
  return [...new Set(names)];
}

function daemonFlags(): Set<string> {
  const r = spawnSync(process.execPath, [CLI, 'daemon', '--help'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`shoal daemon --help: ${r.stderr}`);
  return new Set([...r.stdout.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]));
}

t.test('the flags the units and shoal.env name are daemon flags; the unit expands only documented variables', async (t) => {
  const flags = daemonFlags();
  t.ok(flags.has('--addr') && flags.has('--state-dir'), 'the help was read');
  const env = read('shoal.env');
  const unit = read('shoal.service');
  const named = [env, unitKey(unit, 'ExecStart'), unitKey(read('shoal-manager.service'), 'ExecStart')]
    .flatMap((text) => [...text.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]));
  t.ok(named.length > 20, `${named.length} flags named`);
  t.same([...new Set(named)].filter((f) => !flags.has(f)), [], 'no flag shoal daemon does not know');

  const documented = new Set([...env.matchAll(/^#\s?([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]));
  const used = [...expandedVars(unitKey(unit, 'ExecStart')), ...expandedVars(unitKey(unit, 'ExecStartPre'))];
  t.ok(used.includes('SHOAL_ADDR') && used.includes('SHOAL_OPTS'), `the unit expands ${used.join(', ')}`);
  t.same(used.filter((v) => !documented.has(v)), [], 'every variable the unit expands has a line in shoal.env');
  t.ok(documented.has('SHOAL_TOKEN'), 'the token is documented too (read by the daemon from its environment)');
  t.equal(unitKey(unit, 'EnvironmentFile'), '/etc/default/shoal', 'the unit reads the file shoal.env is copied to');
  t.equal(unitKey(unit, 'StateDirectory'), 'shoal', 'systemd makes /var/lib/shoal, the --state-dir of ExecStart');
  t.match(unitKey(unit, 'ExecStart'), /--state-dir \/var\/lib\/shoal(\s|$)/);
});

t.test('the unit, expanded from a filled-in shoal.env, starts a manager and stops on SIGTERM', async (t) => {
  const dir = tempDir(t, 'systemd');
  const unit = read('shoal.service');

  // /etc/default/shoal as an operator fills it in: the shipped file with three lines uncommented.
  const opts = `--hostname unit-test --network-mode loopback --dns-port ${DNS_PORT} --dns-upstream ${SILENT_UPSTREAM} --log-level warn`;
  const filled = read('shoal.env')
    .replace(/^#SHOAL_ADDR=.*$/m, `SHOAL_ADDR=${ADDR}`)
    .replace(/^#SHOAL_INIT=--init$/m, 'SHOAL_INIT=--init')
    .replace(/^#SHOAL_OPTS=.*$/m, `SHOAL_OPTS="${opts}"`);
  writeFileSync(path.join(dir, 'shoal'), filled);
  const fileEnv = parseEnvFile(readFileSync(path.join(dir, 'shoal'), 'utf8'));
  t.same(Object.keys(fileEnv).sort(), ['SHOAL_ADDR', 'SHOAL_INIT', 'SHOAL_OPTS'], 'only the uncommented lines are set');

  // ExecStartPre: /bin/sh -c '...' with systemd's $$ handed to the shell as $.
  const pre = /^\/bin\/sh -c '(.*)'$/.exec(unitKey(unit, 'ExecStartPre'));
  t.ok(pre, 'ExecStartPre is a /bin/sh -c script');
  const script = pre![1].replace(/\$\$/g, '$');
  const { SHOAL_ADDR: _addr, ...withoutAddr } = fileEnv;
  const refused = spawnSync('/bin/sh', ['-c', script], { env: { PATH: process.env.PATH, ...withoutAddr }, encoding: 'utf8' });
  t.equal(refused.status, 1, 'without SHOAL_ADDR the unit refuses to start');
  t.equal(refused.stderr.trim().split('\n').length, 1, `one line: ${refused.stderr.trim()}`);
  const passed = spawnSync('/bin/sh', ['-c', script], { env: { PATH: process.env.PATH, ...fileEnv }, encoding: 'utf8' });
  t.equal(passed.status, 0, 'with SHOAL_ADDR it goes on');

  const argv = expandExec(unitKey(unit, 'ExecStart'), fileEnv);
  t.same(argv.slice(0, 3), ['/usr/bin/env', 'shoal', 'daemon'], 'the unit runs `shoal daemon` from the PATH');
  const stateAt = argv.indexOf('/var/lib/shoal');
  t.ok(stateAt > 0, 'the state dir is /var/lib/shoal');
  const args = argv.slice(2).map((a, i) => (i + 2 === stateAt ? dir : a));
  t.same(args.slice(args.indexOf('--init')), ['--init', ...opts.split(' ')], '$SHOAL_INIT and $SHOAL_OPTS split into words, the empty $SHOAL_JOIN into none');

  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...fileEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  const host = `unix://${path.join(dir, 'shoal.sock')}`;
  const nodes = await eventually(async () => {
    const r = await runCli(['-H', host, 'node', 'ls', '--format', 'json']);
    if (r.code !== 0) throw new Error(r.stderr);
    const rows = JSON.parse(r.stdout) as NodeRow[];
    return rows.length === 1 && rows[0].status.state === 'ready' ? rows : undefined;
  }, 'the node ready in node ls', clusterWait(30_000));
  t.equal(nodes[0].hostname, 'unit-test', 'the hostname from SHOAL_OPTS');
  t.equal(nodes[0].role, 'manager', 'SHOAL_INIT made it the manager');
  t.equal(nodes[0].managerStatus?.leader, true, 'and the leader');

  const stopSec = Number(unitKey(unit, 'TimeoutStopSec'));
  child.kill('SIGTERM');
  const end = await within(exited, 'exit after SIGTERM', stopSec * 1000);
  t.same(end, { code: 0, signal: null }, `the daemon exits 0 on SIGTERM within TimeoutStopSec=${stopSec}`);
  t.equal(stderr.trim(), '', 'nothing on stderr at --log-level warn');
});
