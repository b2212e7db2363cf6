import t from 'tap';
import { taskEnvironment } from '../../../src/agent/executor/task-env';
import { makeTask } from './fixtures/task';

const ctx = (over: Parameters<typeof makeTask>[2] = {}, env: Record<string, string> = {}) => ({
  task: makeTask('task-1', ['x'], { address: '127.100.0.7', ...over }, { env }),
  nodeId: 'node-9',
  dnsAddress: '127.0.1.1:53',
});

const cases: {
  name: string;
  inherited: NodeJS.ProcessEnv;
  ctx: ReturnType<typeof ctx>;
  ports: [number, number][];
  want: Record<string, string | undefined>;
}[] = [
  {
    name: 'injects task facts',
    inherited: { PATH: '/bin' },
    ctx: ctx(),
    ports: [],
    want: {
      PATH: '/bin',
      PORT: undefined,
      SHOAL_TASK_ADDR: '127.100.0.7',
      SHOAL_TASK_ID: 'task-1',
      SHOAL_TASK_SLOT: '2',
      SHOAL_SERVICE_NAME: 'web',
      SHOAL_SERVICE_ID: 'svc-1',
      SHOAL_NODE_ID: 'node-9',
      SHOAL_DNS: '127.0.1.1:53',
    },
  },
  {
    name: 'PORT is the first target port, every target gets SHOAL_PORT_<target>',
    inherited: {},
    ctx: ctx({ targetPorts: [{ protocol: 'udp', port: 53 }, { protocol: 'tcp', port: 53 }, { protocol: 'tcp', port: 8080 }] }),
    ports: [[53, 40053], [8080, 8080]],
    want: { PORT: '40053', SHOAL_PORT_53: '40053', SHOAL_PORT_8080: '8080' },
  },
  {
    name: 'daemon settings and a stray PORT are not inherited',
    inherited: { SHOAL_LOG_LEVEL: 'debug', PORT: '1', HOME: '/root' },
    ctx: ctx(),
    ports: [],
    want: { SHOAL_LOG_LEVEL: undefined, PORT: undefined, HOME: '/root' },
  },
  {
    name: 'spec env overrides inherited, injected facts override spec env',
    inherited: { LANG: 'C', FOO: 'inherited' },
    ctx: ctx({ targetPorts: [{ protocol: 'tcp', port: 80 }] }, { FOO: 'spec', PORT: '1', SHOAL_TASK_ID: 'fake', SHOAL_OWN: 'mine' }),
    ports: [[80, 80]],
    want: { LANG: 'C', FOO: 'spec', PORT: '80', SHOAL_TASK_ID: 'task-1', SHOAL_OWN: 'mine' },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const env = taskEnvironment(c.inherited, c.ctx, new Map(c.ports));
    for (const [k, v] of Object.entries(c.want)) t.equal(env[k], v, k);
  });
}
