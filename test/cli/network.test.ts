/**
 * `shoal network ...` and the service network flags: the pure helpers as
 * tables, then the real command tree (commander) against an in-process
 * manager on a unix socket, to check what operators see: printed ids and
 * tables, one-line errors with stable codes, nothing half-applied.
 */
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Router } from '../../src/api/router';
import { networkRequestFromFlags, networkRows, servicesUsing } from '../../src/cli/commands/network';
import { buildProgram } from '../../src/cli/main';
import { applyNetworkFlags, applyUpdateFlags, specFromCreateFlags, type CreateFlags, type UpdateFlags } from '../../src/cli/service-flags';
import { ShoalError } from '../../src/errors';
import { Manager } from '../../src/manager/manager';
import { validateServiceSpec } from '../../src/spec/service-spec';
import type { Network, Service } from '../../src/model/types';
import { MemoryStore } from '../../src/store/memory-store';
import { makeService, makeNetwork } from '../support/builders';

const shoal = makeNetwork('id-shoal-000000000', '10.0.0.0/24', { name: 'shoal', builtin: true });
const backend = makeNetwork('id-backend-0000000', '10.0.1.0/24', { name: 'backend', vni: 4097 });
const networks = [shoal, backend];

t.test('network create flags', async (t) => {
  t.same(networkRequestFromFlags('backend', { label: ['team=a', 'tier'] }), { name: 'backend', driver: 'overlay', labels: { team: 'a', tier: '' } });
  t.same(networkRequestFromFlags('b', { label: [], driver: 'overlay', subnet: '10.0.7.0/24' }), { name: 'b', driver: 'overlay', labels: {}, subnet: '10.0.7.0/24' });
  const bad: [Parameters<typeof networkRequestFromFlags>[1], RegExp][] = [
    [{ label: [], driver: 'bridge' }, /driver "bridge" is not supported/],
    [{ label: [], subnet: '10.0.7.1/24' }, /not the network address/],
    [{ label: [], subnet: '10.0.0.0/8' }, /from \/16 to \/29/],
    [{ label: ['=x'] }, /invalid label "=x"/],
  ];
  for (const [flags, re] of bad) t.throws(() => networkRequestFromFlags('x', flags), re, JSON.stringify(flags));
});

t.test('network ls rows and the services using a network', async (t) => {
  t.same(networkRows([backend, shoal]), [
    ['id-backend-0', 'backend', 'overlay', 'swarm', '10.0.1.0/24'],
    ['id-shoal-000', 'shoal', 'overlay', 'swarm', '10.0.0.0/24'],
  ]);
  t.equal(networkRows([shoal], false)[0][0], shoal.id);
  const a = makeService('a');
  a.spec.networks = [backend.id];
  const b = makeService('b');
  b.spec.networks = [shoal.id];
  t.same(servicesUsing(backend, [b, a]), ['a']);
});

const create = (over: Partial<CreateFlags>): CreateFlags => ({ publish: [], constraint: [], env: [], label: [], placementPref: [], name: 'web', ...over });
const update = (over: Partial<UpdateFlags>): UpdateFlags => ({
  publishAdd: [], publishRm: [], constraintAdd: [], constraintRm: [], envAdd: [], envRm: [], labelAdd: [], labelRm: [], placementPrefAdd: [], placementPrefRm: [], ...over,
});

t.test('service create --network (repeatable)', async (t) => {
  t.equal(specFromCreateFlags(create({}), ['x']).networks, undefined, 'none: the manager picks the default');
  const spec = validateServiceSpec(specFromCreateFlags(create({ network: ['backend', 'shoal'] }), ['x']));
  t.same(spec.networks, ['backend', 'shoal'], 'names as given; the manager resolves them');
  t.throws(() => specFromCreateFlags(create({ network: [' '] }), ['x']), /--network needs a network name or id/);
  t.throws(() => validateServiceSpec({ ...specFromCreateFlags(create({}), ['x']), networks: [3] }), /networks must be a list of network names or ids/);
});

t.test('service update --network-add / --network-rm', async (t) => {
  const cases: [string[] | undefined, string[], string[], string[] | RegExp][] = [
    [[shoal.id], [], ['backend'], [shoal.id, backend.id]],
    [undefined, [], ['backend'], [shoal.id, backend.id]],
    [[shoal.id, backend.id], ['backend'], [], [shoal.id]],
    [[shoal.id, backend.id], [backend.id.slice(0, 6)], [], [shoal.id]],
    [[shoal.id], ['shoal'], ['backend'], [backend.id]],
    [[shoal.id], [], ['nope'], [shoal.id, 'nope']],
    [[shoal.id], ['backend'], [], /network backend is not attached to this service/],
    [[shoal.id], [], ['shoal'], /service is already attached to network shoal/],
    [[shoal.id], ['shoal'], [], /a service must stay attached to at least one network/],
  ];
  for (const [cur, rmList, add, want] of cases) {
    const name = `${JSON.stringify(cur)} rm ${rmList} add ${add}`;
    if (want instanceof RegExp) t.throws(() => applyNetworkFlags(cur, rmList, add, networks), want, name);
    else t.same(applyNetworkFlags(cur, rmList, add, networks), want, name);
  }
  const base = validateServiceSpec(specFromCreateFlags(create({}), ['x']));
  base.networks = [shoal.id];
  const next = applyUpdateFlags(base, update({ networkAdd: ['backend'] }), [], networks);
  t.same(next.networks, [shoal.id, backend.id]);
  t.same(base.networks, [shoal.id], 'the original spec is untouched');
  t.same(applyUpdateFlags(base, update({ labelAdd: ['a=b'] }), []).networks, [shoal.id], 'no network flag: networks unchanged');
});

/** Run one `shoal ...` command line through the real program; returns what it printed, or the error it threw. */
async function run(sock: string, ...args: string[]): Promise<{ out: string; err?: ShoalError }> {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write;
  try {
    const program = buildProgram();
    const silence = (c: ReturnType<typeof buildProgram>) => {
      c.exitOverride();
      c.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
      c.commands.forEach(silence);
    };
    silence(program);
    await program.parseAsync(['node', 'shoal', '-H', `unix://${sock}`, ...args]);
    return { out };
  } catch (err) {
    if (err instanceof ShoalError) return { out, err };
    throw err;
  } finally {
    process.stdout.write = write;
  }
}

t.test('the network commands against a manager', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shoal-ipam-cli-'));
  const sock = path.join(dir, 'shoal.sock');
  const store = new MemoryStore();
  const logger = pino({ level: 'silent' });
  const manager = new Manager({ store, logger, registry: new Registry(), now: Date.now }, { heartbeatPeriodMs: 1_000, probePorts: false, networkMode: 'netns' });
  await manager.init('127.0.0.1:0');
  const router = new Router(logger);
  manager.routes(router);
  const server = http.createServer((req, res) => void router.handle(req, res, 'local'));
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await manager.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const created = await run(sock, 'network', 'create', '--driver', 'overlay', '--subnet', '10.0.5.0/24', '--label', 'team=a', 'backend');
  t.equal(created.err, undefined);
  t.match(created.out, /^[0-9a-z]{25}\n$/, 'prints the new id');
  t.equal((await run(sock, 'network', 'create', 'front')).err, undefined);

  const ls = await run(sock, 'network', 'ls');
  const lines = ls.out.trimEnd().split('\n');
  t.match(lines[0], /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\s+SUBNET$/);
  t.same(lines.slice(1).map((l) => l.split(/\s+/).slice(1)), [
    ['backend', 'overlay', 'swarm', '10.0.5.0/24'],
    ['front', 'overlay', 'swarm', '10.0.1.0/24'],
    ['shoal', 'overlay', 'swarm', '10.0.0.0/24'],
  ]);
  const json = JSON.parse((await run(sock, 'network', 'ls', '--format', 'json')).out) as { Name: string; Scope: string; VNI: number }[];
  t.same(json.map((n) => [n.Name, n.Scope, n.VNI]), [['backend', 'swarm', 4097], ['front', 'swarm', 4098], ['shoal', 'swarm', 4096]]);
  const inspect = JSON.parse((await run(sock, 'network', 'inspect', 'backend', 'shoal')).out) as Network[];
  t.same(inspect.map((n) => [n.name, n.vipRange, n.labels]), [['backend', '10.0.5.192/26', { team: 'a' }], ['shoal', '10.0.0.192/26', {}]]);

  const bad: [string[], string, RegExp][] = [
    [['network', 'create', '--subnet', '10.0.5.128/25', 'x'], 'SHOAL_ERR_NETWORK_OVERLAP', /10\.0\.5\.128\/25 of network x overlaps subnet 10\.0\.5\.0\/24 of network backend/],
    [['network', 'create', '--driver', 'bridge', 'x'], 'SHOAL_ERR_INVALID_ARGUMENT', /driver "bridge" is not supported/],
    [['network', 'create', 'backend'], 'SHOAL_ERR_NAME_CONFLICT', /network backend already exists/],
    [['network', 'inspect', 'nope'], 'SHOAL_ERR_NETWORK_NOT_FOUND', /network nope not found/],
    [['network', 'rm', 'shoal'], 'SHOAL_ERR_INVALID_ARGUMENT', /default network and cannot be removed/],
    [['service', 'create', '-d', '--name', 'web', '--network', 'nope', '--', 'node', 'x.js'], 'SHOAL_ERR_NETWORK_NOT_FOUND', /network nope not found/],
  ];
  for (const [args, code, re] of bad) {
    const r = await run(sock, ...args);
    t.equal(r.err?.code, code, args.join(' '));
    t.match(r.err?.message, re);
  }

  const svc = await run(sock, 'service', 'create', '-d', '--name', 'web', '--network', 'backend', '--network', 'front', '--', 'node', 'x.js');
  t.equal(svc.err, undefined);
  const inUse = await run(sock, 'network', 'rm', 'front', 'backend');
  t.equal(inUse.err?.code, 'SHOAL_ERR_NETWORK_IN_USE');
  t.equal(inUse.err?.message, 'network front is in use by service web');
  t.equal(inUse.out, '', 'nothing removed');

  const upd = await run(sock, 'service', 'update', '-d', '--network-rm', 'front', 'web');
  t.equal(upd.err, undefined);
  const pretty = await run(sock, 'service', 'inspect', '--pretty', 'web');
  t.match(pretty.out, /Networks:\n backend \(10\.0\.5\.0\/24\):\tVIP 10\.0\.5\.192\nEndpoint Mode:\tvip/);
  const raw = JSON.parse((await run(sock, 'service', 'inspect', 'web')).out) as Service[];
  t.equal(raw[0].endpoint.virtualIPs?.[0].address, '10.0.5.192');
  t.equal(raw[0].spec.networks?.length, 1);

  const rmd = await run(sock, 'network', 'rm', 'front');
  t.same([rmd.err, rmd.out], [undefined, 'front\n']);
  t.equal((await run(sock, 'network', 'ls', '-q')).out.trimEnd().split('\n').length, 2);
});
