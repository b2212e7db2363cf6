/**
 * Host-mode publish and node roles through the real CLI on a 3-node loopback
 * cluster (block 127.0.65.k, DNS port 5365): a host-mode port answers only on
 * the nodes running a task of the service, each reaching its own task; extra
 * replicas wait, naming the port; promote and demote refuse what this
 * version cannot do and leave everything as it was.
 */
import t, { type Test } from 'tap';
import { eventually } from '../support/eventually';
import { DEMO_DIR, httpGet, runningTasks, tempDir, TestCluster, clusterWait, type PsRow } from './cluster-fixture';

const BLOCK = 65;
const DNS_PORT = 5365;
const HOST_PORT = 9000;
/** Requests per node: all of them must reach the node's own task. */
const REQUESTS_PER_NODE = 8;

/** The task that answered a GET on address:HOST_PORT, or the error code (ECONNREFUSED when no frontend listens). */
async function answerer(address: string): Promise<string> {
  try {
    const r = await httpGet(address, HOST_PORT);
    return (JSON.parse(r.body) as { task: string }).task;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

t.test('host-mode publish and node roles on a 3-node cluster', async (t) => {
  const c = new TestCluster(t, tempDir(t, 'hostpublish'), BLOCK, DNS_PORT);
  await c.up(3);
  const nodes = await c.json<{ id: string; hostname: string; address: string }[]>('node', 'ls');
  const addressOf = new Map(nodes.map((n) => [n.hostname, n.address]));

  /** Each node's answers: its local task's id on every request, or the refusal when it runs none. */
  const checkEveryNode = async (t: Test, tasks: PsRow[]) => {
    const local = new Map(tasks.map((task) => [task.Node, task.ID]));
    for (const [hostname, address] of addressOf) {
      const want = local.get(hostname) ?? 'ECONNREFUSED';
      // The mesh applies the table a moment after the task reports running.
      await eventually(async () => (await answerer(address)) === want, `${hostname} answering with ${want}`, clusterWait());
      const seen = new Set<string>();
      for (let i = 0; i < REQUESTS_PER_NODE; i++) seen.add(await answerer(address));
      t.same([...seen], [want], `${hostname} (${address}:${HOST_PORT}): ${local.has(hostname) ? 'only its own task answers' : 'nothing listens'}`);
    }
  };

  await t.test('two replicas, one per node: two nodes answer, each with its own task; the third does not', async (t) => {
    const r = await c.cli(
      'service', 'create', '--name', 'edge', '--replicas', '2', '--replicas-max-per-node', '1',
      '-p', `mode=host,published=${HOST_PORT},target=80`, '-w', DEMO_DIR, '--', 'node', 'demo/web.js',
    );
    t.equal(r.code, 0, r.stderr);
    const tasks = await eventually(async () => {
      const rows = await runningTasks(c, 'edge');
      return rows.length === 2 && rows;
    }, '2 running', clusterWait());
    t.equal(new Set(tasks.map((x) => x.Node)).size, 2, 'the tasks are on two different nodes');
    await checkEveryNode(t, tasks);
    const ls = await c.json<{ Name: string; Ports: string }[]>('service', 'ls');
    t.same(ls.find((s) => s.Name === 'edge')?.Ports, `*:${HOST_PORT}->80/tcp (host)`, 'service ls shows the host-mode port');
  });

  await t.test('scaled to 3, every node answers with its own task', async (t) => {
    const r = await c.cli('service', 'scale', 'edge=3');
    t.equal(r.code, 0, r.stderr);
    const tasks = await eventually(async () => {
      const rows = await runningTasks(c, 'edge');
      return rows.length === 3 && rows;
    }, '3 running', clusterWait());
    await checkEveryNode(t, tasks);
  });

  await t.test('a fourth replica waits, and its message names the port', async (t) => {
    const r = await c.cli('service', 'scale', '-d', 'edge=4');
    t.equal(r.code, 0, r.stderr);
    const pending = await eventually(async () => {
      const rows = await c.json<(PsRow & { Message: string })[]>('service', 'ps', 'edge');
      return rows.find((x) => x.CurrentState === 'Pending' && x.Message.startsWith('no suitable node'));
    }, 'a pending task with a reason', clusterWait());
    t.equal(pending.Message, `no suitable node (3 nodes had no port ${HOST_PORT}/tcp free)`);
    t.equal((await runningTasks(c, 'edge')).length, 3, 'the three others keep running');
    t.equal((await c.cli('service', 'scale', '-d', 'edge=3')).code, 0, 'scaled back');
  });

  await t.test('host mode on an ingress port of another service is refused', async (t) => {
    const ok = await c.cli('service', 'create', '-d', '--name', 'web', '-p', '18090:80', '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
    t.equal(ok.code, 0, ok.stderr);
    const r = await c.cli('service', 'create', '--name', 'clash', '-p', 'mode=host,published=18090,target=80', '--', 'node', 'x');
    t.equal(r.code, 1);
    t.equal(r.stderr, 'error: port 18090/tcp is already published by service web\n');
  });

  await t.test('node promote and demote', async (t) => {
    const roles = async () =>
      JSON.stringify((await c.json<{ hostname: string; role: string; availability: string; labels: object }[]>('node', 'ls')).map((n) => [n.hostname, n.role, n.availability, n.labels]));
    const before = await roles();
    const cases: { args: string[]; code: number; stdout?: string; stderr?: string }[] = [
      {
        args: ['node', 'promote', 'node-2'],
        code: 1,
        stderr:
          "error: cannot promote node-2: this cluster keeps its state in one manager's embedded store; more managers need a replicated store (etcd): start every manager with --store etcd://... (see shoal daemon --help)\n",
      },
      { args: ['node', 'promote', 'node-1'], code: 0, stdout: 'Node node-1 is already a manager.\n' },
      { args: ['node', 'demote', 'node-1'], code: 1, stderr: 'error: cannot demote node-1: it is the only manager; the cluster would have none\n' },
      { args: ['node', 'demote', 'node-2', 'node-3'], code: 0, stdout: 'Node node-2 is already a worker.\nNode node-3 is already a worker.\n' },
      { args: ['node', 'demote', 'nope'], code: 1, stderr: 'error: node nope not found\n' },
      { args: ['node', 'promote', 'node-1', 'nope'], code: 1, stderr: 'error: node nope not found\n' },
      { args: ['node', 'promote'], code: 1, stderr: "error: missing required argument 'node'\n" },
      { args: ['node', 'update', '--role', 'manager', 'node-3'], code: 1, stderr: /^error: cannot promote node-3: /m.source },
      { args: ['node', 'update', '--role', 'boss', 'node-3'], code: 1, stderr: 'error: invalid role "boss": use worker or manager\n' },
    ];
    for (const tc of cases) {
      const r = await c.cli(...tc.args);
      const what = tc.args.join(' ');
      t.equal(r.code, tc.code, `${what}: exit ${tc.code}`);
      if (tc.stdout !== undefined) t.equal(r.stdout, tc.stdout, `${what}: says so`);
      if (tc.stderr !== undefined) {
        t.equal(r.stderr.split('\n').filter(Boolean).length, 1, `${what}: one line on stderr`);
        if (tc.stderr.startsWith('^')) t.match(r.stderr, new RegExp(tc.stderr), what);
        else t.equal(r.stderr, tc.stderr, what);
        t.equal(r.stdout, '', `${what}: nothing on stdout`);
      }
    }
    t.equal(await roles(), before, 'no node changed role, availability or labels');
  });
});
