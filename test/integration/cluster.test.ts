import t from 'tap';
import net from 'node:net';
import { eventually } from '../support/eventually';
import { collectHttpTasks, collectUdpTasks, dig, DEMO_DIR, httpGet, runningTasks, tempDir, TestCluster, clusterWait } from './cluster-fixture';

const WEB_PORT = 18080;
const ECHO_PORT = 15301;

function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

t.test('three nodes: spread, routing mesh on every node, DNS, scale, drain, rm', async (t) => {
  const c = new TestCluster(t, tempDir(t, 'cluster'), 10);
  await c.up(3);
  const addrs = [1, 2, 3].map((k) => c.address(k));

  let r = await c.cli('service', 'create', '--name', 'web', '--replicas', '6', '-p', `${WEB_PORT}:80`, '-w', DEMO_DIR, '--', 'node', 'demo/web.js');
  t.equal(r.code, 0, `service create web: ${r.stderr}`);
  r = await c.cli('service', 'create', '--name', 'echo', '--replicas', '6', '-p', `${ECHO_PORT}:5301/udp`, '-w', DEMO_DIR, '--', 'node', 'demo/udp-echo.js');
  t.equal(r.code, 0, `service create echo: ${r.stderr}`);

  const web = await eventually(async () => ((await runningTasks(c, 'web')).length === 6 ? runningTasks(c, 'web') : undefined), '6 running web tasks', clusterWait());
  const perNode = new Map<string, number>();
  for (const task of web) perNode.set(task.Node, (perNode.get(task.Node) ?? 0) + 1);
  t.same([...perNode.entries()].sort(), [['node-1', 2], ['node-2', 2], ['node-3', 2]], '6 replicas spread 2 per node');

  const webIds = new Set(web.map((x) => x.ID));
  for (const a of addrs) {
    const seen = await collectHttpTasks(a, WEB_PORT, webIds);
    t.same([...seen].sort(), [...webIds].sort(), `TCP ${a}:${WEB_PORT} reaches every web task on every node`);
  }

  const echo = await eventually(async () => ((await runningTasks(c, 'echo')).length === 6 ? runningTasks(c, 'echo') : undefined), '6 running echo tasks', clusterWait());
  const echoIds = new Set(echo.map((x) => x.ID));
  t.equal(new Set(echo.map((x) => x.Node)).size, 3, 'echo tasks run on all three nodes');
  for (const a of addrs) {
    const seen = await collectUdpTasks(a, ECHO_PORT, echoIds);
    t.same([...seen].sort(), [...echoIds].sort(), `UDP ${a}:${ECHO_PORT} reaches every echo task on every node`);
  }

  // DNS: the service name is the VIP of the asking node's mesh; tasks.<svc> is every running task.
  const vip1 = await dig(addrs[0], 'web');
  t.equal(vip1.length, 1, 'web resolves to one VIP');
  t.match(vip1[0], /^127\.21\.\d+\.\d+$/, 'node 1 (index 1, the manager) answers with a VIP from its own range');
  // Node k's VIPs come from 127.(20+index).0.0/16, index in order of joining.
  const node2 = (await c.json<{ address: string; index: number }[]>('node', 'ls')).find((n) => n.address === addrs[1])!;
  const vip2 = await dig(addrs[1], 'web');
  t.match(vip2[0], new RegExp(`^127\\.${20 + node2.index}\\.\\d+\\.\\d+$`), 'node 2 answers with a VIP from its own range');
  const viaVip = await httpGet(vip1[0], 80);
  t.ok(webIds.has(JSON.parse(viaVip.body).task), 'VIP:targetPort reaches a web task');
  t.same((await dig(addrs[0], 'tasks.web')).sort(), web.map((x) => x.Address).sort(), 'tasks.web lists every running task address');
  t.same(await dig(addrs[0], 'nosuchservice'), [], 'unknown cluster name has no answer');

  // Scale up then down; DNS follows.
  t.equal((await c.cli('service', 'scale', 'web=5')).code, 0);
  await eventually(async () => (await runningTasks(c, 'web')).length === 5 && (await c.json<{ Replicas: string }[]>('service', 'ls')).some((s) => s.Replicas === '5/5'), '5 running', clusterWait());
  t.equal((await c.cli('service', 'scale', 'web=2')).code, 0);
  const two = await eventually(async () => {
    const rt = await runningTasks(c, 'web');
    const ps = await c.json<{ DesiredState: string; CurrentState: string }[]>('service', 'ps', 'web');
    // Converged: nothing is still on its way down.
    return rt.length === 2 && ps.every((x) => x.DesiredState !== 'Shutdown' || x.CurrentState !== 'Running') ? rt : undefined;
  }, '2 running', clusterWait());
  const twoAddrs = two.map((x) => x.Address).sort();
  await eventually(async () => JSON.stringify((await dig(addrs[2], 'tasks.web')).sort()) === JSON.stringify(twoAddrs), 'tasks.web answers two addresses', clusterWait());
  t.pass('after scaling to 2, tasks.web answers exactly the 2 running tasks');
  const seenAfter = await collectHttpTasks(addrs[0], WEB_PORT, new Set(two.map((x) => x.ID)), 20);
  t.same([...seenAfter].sort(), two.map((x) => x.ID).sort(), 'the mesh routes only to the 2 remaining tasks');

  // Drain a node that runs an echo task: its tasks move elsewhere.
  t.equal((await c.cli('node', 'update', '--availability', 'drain', 'node-2')).code, 0);
  const drained = await eventually(async () => {
    const rt = await runningTasks(c, 'echo');
    return rt.length === 6 && rt.every((x) => x.Node !== 'node-2') ? rt : undefined;
  }, 'echo off node-2', clusterWait());
  t.equal(drained.length, 6, 'drain moved every echo task off node-2 and kept 6 running');
  const nodes = await c.json<{ hostname: string; availability: string }[]>('node', 'ls');
  t.equal(nodes.find((n) => n.hostname === 'node-2')?.availability, 'drain');

  // Remove: every task stops, the published ports are freed on every node.
  // Where the tasks listened: their address at the port they were given (not the target port, in loopback mode).
  const oldAddrs = two.map((x) => ({ address: x.Address, port: x.Ports['tcp/80'] }));
  r = await c.cli('service', 'rm', 'web', 'echo');
  t.equal(r.code, 0, r.stderr);
  t.same(r.stdout.trim().split('\n'), ['web', 'echo']);
  t.equal((await c.json<unknown[]>('service', 'ls')).length, 0, 'no service left');
  for (const a of addrs) await eventually(() => bindable(a, WEB_PORT), `port ${WEB_PORT} free on ${a}`, clusterWait());
  t.pass('published port freed on every node');
  for (const a of oldAddrs) {
    await eventually(async () => {
      try {
        await httpGet(a.address, a.port, '/', 500);
        return false;
      } catch {
        return true;
      }
    }, `task at ${a.address}:${a.port} stopped`, clusterWait());
  }
  t.pass('the removed service has no process left answering');
});
