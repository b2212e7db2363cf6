import t from 'tap';
import type { PortNeed } from '../../../src/agent/executor/host-ports';
import { choosePorts, type TaskPortReserver } from '../../../src/agent/executor/port-choice';
import type { Protocol } from '../../../src/model/types';
import { makeTask } from './fixtures/task';

const FIRST = 20_000;

/** Hands out FIRST, FIRST+1, ... and records what was asked. */
function countingReserver() {
  let next = FIRST;
  const asked: { owner: string; needs: PortNeed[] }[] = [];
  const reserver: TaskPortReserver = {
    reserve: async (owner, needs) => {
      asked.push({ owner, needs });
      return needs.map(() => next++);
    },
    release: async () => undefined,
  };
  return { reserver, asked };
}

const cases: {
  name: string;
  ports: [Protocol, number][];
  own: boolean;
  want: Record<string, number>;
  needs?: PortNeed[];
}[] = [
  { name: 'no ports', ports: [], own: false, want: {}, needs: [] },
  { name: 'own namespace keeps low targets', ports: [['tcp', 80]], own: true, want: { 'tcp/80': 80 } },
  { name: 'own namespace keeps high targets', ports: [['tcp', 8080], ['udp', 53]], own: true, want: { 'tcp/8080': 8080, 'udp/53': 53 } },
  { name: 'shared host: every target gets a reserved port, high ones too', ports: [['tcp', 80], ['tcp', 8080]], own: false, want: { 'tcp/80': FIRST, 'tcp/8080': FIRST + 1 }, needs: [{ tcp: true, udp: false }, { tcp: true, udp: false }] },
  {
    name: 'shared host: tcp and udp on one target share the port, and it is reserved for both',
    ports: [['tcp', 53], ['udp', 53], ['udp', 5353]],
    own: false,
    want: { 'tcp/53': FIRST, 'udp/53': FIRST, 'udp/5353': FIRST + 1 },
    needs: [{ tcp: true, udp: true }, { tcp: false, udp: true }],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const { reserver, asked } = countingReserver();
    const task = makeTask('t1', ['x'], { address: '127.100.0.9', targetPorts: c.ports.map(([protocol, port]) => ({ protocol, port })) });
    const got = await choosePorts(task, c.own ? { kind: 'own-namespace' } : { kind: 'shared-host', reserver });
    t.same(got.byKey, c.want);
    if (c.own) t.same(asked, [], 'nothing reserved in its own namespace');
    else t.same(asked, [{ owner: 't1', needs: c.needs }], 'one reservation for the task, one port per target');
    if (c.ports.length > 0) t.equal(got.byTarget.get(c.ports[0][1]), c.want[`${c.ports[0][0]}/${c.ports[0][1]}`]);
  });
}
