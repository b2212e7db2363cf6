import * as net from 'node:net';
import t from 'tap';
import { choosePorts, findFreeTcpPort } from '../../../src/agent/executor/port-choice';
import type { Protocol } from '../../../src/model/types';
import { makeTask } from './fixtures/task';

const FREE = 40_000;

const cases: {
  name: string;
  ports: [Protocol, number][];
  privileged: boolean;
  want: Record<string, number>;
}[] = [
  { name: 'no ports', ports: [], privileged: false, want: {} },
  { name: 'privileged keeps low targets', ports: [['tcp', 80]], privileged: true, want: { 'tcp/80': 80 } },
  { name: 'high targets kept when unprivileged', ports: [['tcp', 8080], ['udp', 1024]], privileged: false, want: { 'tcp/8080': 8080, 'udp/1024': 1024 } },
  { name: 'low targets remapped when unprivileged', ports: [['tcp', 80], ['tcp', 443]], privileged: false, want: { 'tcp/80': FREE, 'tcp/443': FREE + 1 } },
  { name: 'tcp and udp on one target share the port', ports: [['tcp', 53], ['udp', 53], ['udp', 5353]], privileged: false, want: { 'tcp/53': FREE, 'udp/53': FREE, 'udp/5353': 5353 } },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    let next = FREE;
    const asked: string[] = [];
    const task = makeTask('t', ['x'], { address: '127.100.0.9', targetPorts: c.ports.map(([protocol, port]) => ({ protocol, port })) });
    const got = await choosePorts(task, c.privileged, async (addr) => {
      asked.push(addr);
      return next++;
    });
    t.same(got.byKey, c.want);
    t.ok(asked.every((a) => a === '127.100.0.9'), 'free ports looked for on the task address');
    if (c.ports.length > 0) t.equal(got.byTarget.get(c.ports[0][1]), c.want[`${c.ports[0][0]}/${c.ports[0][1]}`]);
  });
}

t.test('findFreeTcpPort returns a port that can be bound on the address', async (t) => {
  const port = await findFreeTcpPort('127.100.0.9');
  t.ok(port >= 1024 && port < 65536);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.100.0.9', resolve));
  await new Promise((resolve) => server.close(resolve));
});
