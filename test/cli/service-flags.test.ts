import t from 'tap';
import { applyUpdateFlags, specFromCreateFlags, type CreateFlags, type UpdateFlags } from '../../src/cli/service-flags';
import { parseCpus, parseMemory } from '../../src/spec/resources';
import { validateServiceSpec } from '../../src/spec/service-spec';

const create = (over: Partial<CreateFlags>): CreateFlags => ({ publish: [], constraint: [], env: [], label: [], placementPref: [], name: 'web', ...over });
const update = (over: Partial<UpdateFlags>): UpdateFlags => ({
  publishAdd: [], publishRm: [], constraintAdd: [], constraintRm: [], envAdd: [], envRm: [], labelAdd: [], labelRm: [], placementPrefAdd: [], placementPrefRm: [], ...over,
});

t.test('create flags build a spec the manager accepts', async (t) => {
  const spec = specFromCreateFlags(create({ replicas: '3', publish: ['8080:80'], env: ['A=1'], constraint: ['node.role==worker'], healthHttp: '/health', healthInterval: '2s', updateParallelism: '2', updateOrder: 'start-first', placementPref: ['spread=node.labels.zone'], reserveMemory: '512M', limitCpu: '0.5' }), ['node', 'app.js']);
  const v = validateServiceSpec(spec);
  t.equal(v.replicas, 3);
  t.same(v.task.healthcheck, { kind: 'http', path: '/health', intervalMs: 2_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 });
  t.equal(v.updateConfig?.parallelism, 2);
  t.equal(v.updateConfig?.order, 'start-first');
  t.equal(v.updateConfig?.failureAction, 'pause', "Docker's default failure action");
  t.equal(v.rollbackConfig?.parallelism, 1);
  t.same(v.task.placement.preferences, [{ spread: 'node.labels.zone' }]);
  t.equal(v.task.resources?.reservations?.memoryBytes, 512 * 1024 * 1024);
  t.equal(v.task.resources?.limits?.nanoCpus, 5e8);
});

t.test('load-balancing flags', async (t) => {
  const v = validateServiceSpec(specFromCreateFlags(create({ publish: ['published=8080,target=80,proxy-protocol=v1'], lbPolicy: 'source-hash', lbAffinityTimeout: '10m', idleTimeout: '1h', maxConnections: '100', maxConnectionsPerBackend: '10' }), ['x']));
  t.same(v.endpoint.lb, { policy: 'source-hash', affinityTimeoutMs: 600_000, idleTimeoutMs: 3_600_000, maxConnections: 100, maxConnectionsPerBackend: 10 });
  t.equal(v.endpoint.ports[0].proxyProtocol, 'v1');
  t.throws(() => validateServiceSpec(specFromCreateFlags(create({ publish: ['published=53,target=53,protocol=udp,proxy-protocol=v2'] }), ['x'])), /proxy-protocol needs a TCP port published in ingress mode/);
});

t.test('bad create flags', async (t) => {
  const cases: [Partial<CreateFlags>, RegExp][] = [
    [{ replicas: '-1' }, /invalid replica count -1/],
    [{ replicas: 'two' }, /invalid replica count "two"/],
    [{ mode: 'daemonset' }, /invalid mode "daemonset"/],
    [{ mode: 'global', replicas: '2' }, /--replicas can only be used with replicated/],
    [{ constraint: ['node.role=manager'] }, /invalid constraint/],
    [{ updateParallelism: '-1' }, /invalid update parallelism -1/],
    [{ updateMonitor: '5 parsecs' }, /invalid update monitor "5 parsecs"/],
    [{ updateFailureAction: 'explode' }, /invalid update failure action "explode"/],
    [{ rollbackFailureAction: 'rollback' }, /invalid rollback failure action "rollback"/],
    [{ updateMaxFailureRatio: '1.5' }, /invalid update max failure ratio/],
    [{ healthInterval: '1s' }, /need --health-cmd/],
    [{ healthCmd: 'true', healthTcp: true }, /only one of/],
    [{ placementPref: ['spread=zone'] }, /invalid placement preference/],
    [{ reserveMemory: 'lots' }, /invalid reserve memory/],
    [{ maxConcurrent: '2' }, /only be used with job modes/],
    [{ lbPolicy: 'random' }, /invalid load-balancing policy "random"/],
    [{ idleTimeout: 'forever' }, /invalid idle timeout/],
    [{ maxConnections: '-5' }, /invalid max connections -5/],
  ];
  for (const [flags, re] of cases) t.throws(() => specFromCreateFlags(create(flags), ['node', 'x']), re, JSON.stringify(flags));
  t.throws(() => specFromCreateFlags(create({}), []), /a command to run is required/);
  t.throws(() => specFromCreateFlags(create({ name: undefined }), ['x']), /--name is required/);
});

t.test('update flags change a copy of the spec', async (t) => {
  const base = validateServiceSpec(specFromCreateFlags(create({ publish: ['8080:80'], env: ['A=1', 'B=2'], constraint: ['node.role==worker'], healthCmd: 'true' }), ['node', 'x']));
  const next = applyUpdateFlags(base, update({ envAdd: ['C=3'], envRm: ['A'], publishAdd: ['9090:90'], publishRm: ['80'], constraintRm: ['node.role==worker'], healthcheck: false, replicas: '4' }), []);
  t.same(next.task.env, { B: '2', C: '3' });
  t.same(next.endpoint.ports.map((p) => p.publishedPort), [9090]);
  t.same(next.task.placement.constraints, []);
  t.equal(next.task.healthcheck, undefined, '--no-healthcheck removes the check');
  t.equal(next.replicas, 4);
  t.same(base.task.env, { A: '1', B: '2' }, 'the original spec is untouched');
  t.throws(() => applyUpdateFlags(base, update({ publishRm: ['1234'] }), []), /not published/);
  t.throws(() => applyUpdateFlags(base, update({ constraintRm: ['node.id==x'] }), []), /not set/);
  t.same(applyUpdateFlags(base, update({}), ['node', 'y']).task.command, ['node', 'y'], 'a new command after --');
});

t.test('sizes', async (t) => {
  t.equal(parseMemory('512M', 'm'), 512 * 1024 ** 2);
  t.equal(parseMemory('1g', 'm'), 1024 ** 3);
  t.equal(parseMemory('256MiB', 'm'), 256 * 1024 ** 2);
  t.equal(parseMemory('1000', 'm'), 1000);
  t.throws(() => parseMemory('1 parsec', 'memory'), /invalid memory/);
  t.equal(parseCpus('1.5', 'c'), 1.5e9);
  t.throws(() => parseCpus('-1', 'cpu'), /invalid cpu/);
});
