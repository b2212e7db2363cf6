import t from 'tap';
import { isDirty } from '../../src/spec/task-spec';
import { newTask } from '../../src/manager/orchestrator/task-factory';
import type { Service } from '../../src/model/types';
import { T0, fakeDeps, makeService } from '../support/builders';

const base = () =>
  makeService('web', { replicas: 2, ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] });

const cases: { name: string; change: (s: Service) => void; dirty: boolean }[] = [
  { name: 'nothing changed', change: () => {}, dirty: false },
  { name: 'replicas (scaling)', change: (s) => (s.spec.replicas = 5), dirty: false },
  { name: 'service labels', change: (s) => (s.spec.labels = { tier: 'web' }), dirty: false },
  { name: 'published port of the same target port', change: (s) => (s.spec.endpoint.ports[0].publishedPort = 9090), dirty: false },
  { name: 'a second published port to the same target', change: (s) => s.spec.endpoint.ports.push({ ...s.spec.endpoint.ports[0], publishedPort: 8081 }), dirty: false },
  { name: 'the spec version alone', change: (s) => (s.version = 9), dirty: false },
  { name: 'an undefined key the stored task lost', change: (s) => (s.spec.task.workdir = undefined), dirty: false },
  { name: 'command', change: (s) => (s.spec.task.command = ['node', 'v2.js']), dirty: true },
  { name: 'env', change: (s) => (s.spec.task.env = { A: '1' }), dirty: true },
  { name: 'constraints', change: (s) => (s.spec.task.placement.constraints = ['node.role==manager']), dirty: true },
  { name: 'stop grace period', change: (s) => (s.spec.task.stopGracePeriodMs = 1), dirty: true },
  {
    name: 'a health check',
    change: (s) => (s.spec.task.healthcheck = { kind: 'tcp', intervalMs: 1, timeoutMs: 1, retries: 1, startPeriodMs: 0 }),
    dirty: true,
  },
  { name: 'a new target port', change: (s) => s.spec.endpoint.ports.push({ protocol: 'udp', targetPort: 53, publishMode: 'ingress' }), dirty: true },
  { name: 'a force-update bump', change: (s) => (s.forceUpdate = 1), dirty: true },
];

t.test('isDirty', async (t) => {
  for (const c of cases) {
    const svc = base();
    const task = structuredClone(newTask(svc, 1, '', T0, fakeDeps()));
    c.change(svc);
    t.equal(isDirty(task, svc), c.dirty, c.name);
  }
});

t.test('a task born after --force carries the counter and is clean', async (t) => {
  const svc = { ...base(), forceUpdate: 3 };
  const task = newTask(svc, 1, '', T0, fakeDeps());
  t.equal(task.forceUpdate, 3);
  t.equal(isDirty(task, svc), false);
  t.equal(isDirty(task, { ...svc, forceUpdate: 4 }), true);
});
