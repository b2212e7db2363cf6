import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { NameConflictError } from '../../src/errors';
import { Lab } from '../../src/net/lab';
import { systemIp } from '../../src/net/ip-command';
import { listNetns } from '../../src/net/netns';
import { eventually } from '../support/eventually';

/** How long to wait for a process inside a namespace to say it is ready. */
const READY_TIMEOUT_MS = 10_000;

/** A port inside the lab's own namespaces; nothing else listens there. */
const ECHO_PORT = 7777;

function rootLinks(): string[] {
  return execFileSync('ip', ['-o', 'link', 'show']).toString().split('\n');
}

async function leftovers(prefix: string): Promise<string[]> {
  const ns = (await listNetns(systemIp)).filter((n) => n.startsWith(`${prefix}-`));
  const links = rootLinks().filter((l) => l.includes(`${prefix}-`));
  return [...ns, ...links];
}

/** Whether a process is dead: no longer there, or a zombie waiting for whoever reaps orphans here. */
function isGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z');
  } catch {
    return true;
  }
}

/** Polls until a process is gone; false when it outlives the timeout. */
function gone(pid: number): Promise<boolean> {
  return eventually(() => isGone(pid), `process ${pid} to be gone`, READY_TIMEOUT_MS).then(
    () => true,
    () => false,
  );
}

/** Resolves the first stdout line of a child, or rejects if it exits or the timeout passes first. */
function firstLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr: ${err}`)), READY_TIMEOUT_MS);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before printing; stderr: ${err}`));
    });
  });
}

t.test('lab', async (t) => {
  const probe = await Lab.probe();
  const opts = { skip: probe.ok ? false : `netns lab tests need root and a working ip netns: ${probe.reason}` };

  t.test('three hosts talk over the bridge and leave nothing behind', opts, async (t) => {
    const name = Lab.randomName('shlt');
    // Whatever happens below, nothing of this lab may survive the test.
    t.teardown(async () => {
      await Lab.cleanupStale(name);
    });
    const lab = await Lab.create({ name, hosts: 3 });
    t.teardown(() => lab.destroy());

    t.same(lab.hosts.map((h) => h.address), ['10.77.0.1', '10.77.0.2', '10.77.0.3']);
    for (const h of lab.hosts) {
      const { stdout } = await lab.exec(h.index, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
      t.match(stdout, `inet ${h.address}/24`, `host ${h.index} has its address`);
      const lo = await lab.exec(h.index, ['ip', '-o', 'link', 'show', 'lo']);
      t.match(lo.stdout, /UP/, `host ${h.index} loopback up`);
    }
    t.notOk(rootLinks().some((l) => l.includes(`${name}-`)), 'no lab link in the root namespace');

    const server = lab.spawn(0, [
      process.execPath,
      '-e',
      `require('net').createServer((s) => s.end('pong from ' + s.localAddress + ' to ' + s.remoteAddress + '\\n')).listen(${ECHO_PORT}, '10.77.0.1', () => console.log('ready'))`,
    ]);
    t.equal(await firstLine(server, 'server in host 0'), 'ready');

    for (const client of [1, 2]) {
      const { stdout } = await lab.exec(client, [process.execPath, '-e', `require('net').connect(${ECHO_PORT}, '10.77.0.1').pipe(process.stdout)`]);
      t.equal(stdout, `pong from 10.77.0.1 to ${lab.host(client).address}\n`, `host ${client} reaches host 0`);
    }
    // The namespace is really separate: host 0's server is not on host 1's loopback.
    await t.rejects(lab.exec(1, [process.execPath, '-e', `require('net').connect(${ECHO_PORT}, '127.0.0.1').on('error', (e) => { console.error(e.code); process.exit(3); })`]));

    // A straggler started in a namespace by other means is removed too.
    const straggler = execFileSync('ip', ['netns', 'exec', `${name}-h2`, 'sh', '-c', 'sleep 300 >/dev/null 2>&1 & echo $!']).toString().trim();

    await lab.destroy();
    await lab.destroy(); // twice is safe
    t.ok(server.exitCode !== null || server.signalCode !== null, 'spawned server stopped');
    t.ok(await gone(Number(straggler)), 'process left inside a namespace is killed');
    t.same(await leftovers(name), [], 'no namespace or link of the lab remains');
    t.throws(() => lab.spawn(0, ['true']), 'a destroyed lab runs nothing');
  });

  t.test('create refuses a name in use; cleanupStale removes leftovers', opts, async (t) => {
    const name = Lab.randomName('shlt');
    t.teardown(async () => {
      await Lab.cleanupStale(name);
    });
    // What a crashed run leaves: a host namespace with a process in it, and an underlay namespace.
    execFileSync('ip', ['netns', 'add', `${name}-h0`]);
    execFileSync('ip', ['netns', 'add', `${name}-ul`]);
    execFileSync('ip', ['netns', 'add', `${name}x-h0`]); // another lab's, must survive
    t.teardown(() => {
      execFileSync('ip', ['netns', 'delete', `${name}x-h0`]);
    });
    const pid = execFileSync('ip', ['netns', 'exec', `${name}-h0`, 'sh', '-c', 'sleep 300 >/dev/null 2>&1 & echo $!']).toString().trim();

    await t.rejects(Lab.create({ name, hosts: 1 }), NameConflictError);
    const removed = await Lab.cleanupStale(name);
    t.same(removed.sort(), [`${name}-h0`, `${name}-ul`]);
    t.same(await leftovers(name), [], 'nothing of the lab remains');
    t.ok((await listNetns(systemIp)).includes(`${name}x-h0`), 'another lab with a longer prefix is untouched');
    t.ok(await gone(Number(pid)), 'process inside the stale namespace is killed');
    t.same(await Lab.cleanupStale(name), [], 'nothing left the second time');
  });

  t.test('a lab that fails part way leaves nothing', opts, async (t) => {
    const name = Lab.randomName('shlt');
    t.teardown(async () => {
      await Lab.cleanupStale(name);
    });
    let calls = 0;
    const failing = {
      run: (args: readonly string[]) => (args.includes('addr') && ++calls === 2 ? Promise.reject(new Error('injected failure')) : systemIp.run(args)),
      runSync: systemIp.runSync,
    };
    await t.rejects(Lab.create({ name, hosts: 3 }, { ip: failing }), /injected failure/);
    t.same(await leftovers(name), []);
  });
});
