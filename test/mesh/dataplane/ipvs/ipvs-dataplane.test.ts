/**
 * The IPVS dataplane shell over a fake kernel (FakeIpvsKernel): what it
 * sends, in what order, what it leaves alone, and how it reports failures.
 * The real kernel programming is checked in a VM elsewhere.
 */
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import { IpvsDataplane } from '../../../../src/mesh/dataplane/ipvs/ipvs-dataplane';
import type { IpvsDataplaneOptions } from '../../../../src/mesh/dataplane/ipvs/ipvs-dataplane';
import { FAKE_IPVS_FAMILY_ID, FakeIpvsKernel } from '../../../../src/mesh/dataplane/ipvs/fake-ipvs-kernel';
import { IPVS_CMD } from '../../../../src/mesh/dataplane/ipvs/ipvs-uapi';
import { destKey, serviceKey } from '../../../../src/mesh/dataplane/ipvs/ipvs-types';
import type { IpvsService } from '../../../../src/mesh/dataplane/ipvs/ipvs-types';
import type { Backend, Frontend, LbTable } from '../../../../src/mesh/table/table';
import { hex } from '../../../net/genl/hex-fixture';
import { eventually } from '../../../support/eventually';

const silent = pino({ level: 'silent' });
const A = 'tcp/10.0.0.2:80';
const MUTATING = new Set<number>([
  IPVS_CMD.NEW_SERVICE,
  IPVS_CMD.SET_SERVICE,
  IPVS_CMD.DEL_SERVICE,
  IPVS_CMD.NEW_DEST,
  IPVS_CMD.SET_DEST,
  IPVS_CMD.DEL_DEST,
  IPVS_CMD.FLUSH,
]);
const NAMES: Record<number, string> = Object.fromEntries(Object.entries(IPVS_CMD).map(([k, v]) => [v, k]));

function be(id: string, address: string, weight = 1): Backend {
  return { id, address, port: 8080, weight };
}
function vip(backends: Backend[], over: Partial<Frontend> = {}): Frontend {
  return { id: 'vip/tcp/10.0.0.2:80', kind: 'vip', protocol: 'tcp', address: '10.0.0.2', port: 80, service: 'web', backends, ...over };
}
function table(...frontends: Frontend[]): LbTable {
  return { frontends };
}
function foreign(address: string): IpvsService {
  return { af: 2, protocol: 6, address, port: 443, fwmark: 0, scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff };
}

interface Setup {
  kernel: FakeIpvsKernel;
  dp: IpvsDataplane;
  registry: Registry;
  clock: { now: number };
  /** Mutating commands sent since the last call, as `CMD service [dest wN]`. */
  changes: () => string[];
}

function setup(t: tap.Test, options: IpvsDataplaneOptions = {}, kernel = new FakeIpvsKernel()): Setup {
  const registry = new Registry();
  const clock = { now: 0 };
  const dp = new IpvsDataplane({ transport: kernel, logger: silent, registry, now: () => clock.now }, { resyncIntervalMs: 0, ...options });
  t.teardown(() => dp.close());
  let seen = kernel.commands.length;
  const changes = () => {
    const out = kernel.commands
      .slice(seen)
      .filter((c) => MUTATING.has(c.cmd))
      .map((c) => [NAMES[c.cmd], c.service, c.dest, c.weight !== undefined ? `w${c.weight}` : undefined, c.scheduler].filter(Boolean).join(' '));
    seen = kernel.commands.length;
    return out;
  };
  return { kernel, dp, registry, clock, changes };
}

function kernelView(kernel: FakeIpvsKernel): Record<string, string[]> {
  return Object.fromEntries(kernel.entries().map((e) => [`${serviceKey(e.service)} ${e.service.scheduler}`, e.dests.map((d) => `${destKey(d)} w${d.weight}`)]));
}

t.test('first apply resolves the family by name with the bytes nlctrl expects, then programs the table', async (t) => {
  const { kernel, dp, changes } = setup(t);
  const r = await dp.apply(table(vip([be('t1', '10.0.1.5'), be('t2', '10.0.1.6')])));
  t.same(r.failed, []);
  t.same(
    kernel.sent[0],
    hex(`
      20 00 00 00  10 00  05 00  01 00 00 00  00 00 00 00   // GETFAMILY to GENL_ID_CTRL, REQUEST|ACK, seq 1
      03 01 00 00                                          // CTRL_CMD_GETFAMILY v1
      09 00 02 00  49 50 56 53 00 00 00 00                 // CTRL_ATTR_FAMILY_NAME "IPVS"
    `),
  );
  t.equal(kernel.sent[1].readUInt16LE(4), FAKE_IPVS_FAMILY_ID, 'then talks to the resolved family');
  t.same(changes(), ['NEW_SERVICE tcp/10.0.0.2:80 rr', 'NEW_DEST tcp/10.0.0.2:80 10.0.1.5:8080 w1', 'NEW_DEST tcp/10.0.0.2:80 10.0.1.6:8080 w1']);
  t.same(kernelView(kernel), { 'tcp/10.0.0.2:80 rr': ['10.0.1.5:8080 w1', '10.0.1.6:8080 w1'] });
  t.same(dp.ownedServices(), [A]);
});

t.test('a second apply of the same table only reads', async (t) => {
  const { dp, changes } = setup(t);
  const tbl = table(vip([be('t1', '10.0.1.5')]), vip([], { id: 'vip/udp/10.0.0.2:53', protocol: 'udp', port: 53, lb: { policy: 'source-hash' } }));
  await dp.apply(tbl);
  changes();
  t.same((await dp.apply(tbl)).failed, []);
  t.same(changes(), [], 'no mutating command');
});

t.test('backends added, drained, removed; policy changed', async (t) => {
  const { kernel, dp, changes } = setup(t);
  await dp.apply(table(vip([be('t1', '10.0.1.5'), be('t2', '10.0.1.6')])));
  changes();

  await dp.apply(table(vip([be('t1', '10.0.1.5'), be('t2', '10.0.1.6'), be('t3', '10.0.1.7')])));
  t.same(changes(), ['NEW_DEST tcp/10.0.0.2:80 10.0.1.7:8080 w1'], 'added');

  kernel.setConnections(A, '10.0.1.6:8080', 2, 1);
  await dp.apply(table(vip([be('t1', '10.0.1.5'), be('t2', '10.0.1.6', 0), be('t3', '10.0.1.7')])));
  t.same(changes(), ['SET_DEST tcp/10.0.0.2:80 10.0.1.6:8080 w0'], 'draining with connections: weight 0');

  await dp.resync();
  t.same(changes(), [], 'still connections: wait');

  kernel.setConnections(A, '10.0.1.6:8080', 0, 0);
  await dp.resync();
  t.same(changes(), ['DEL_DEST tcp/10.0.0.2:80 10.0.1.6:8080'], 'connections gone: deleted on the next resync');

  await dp.apply(table(vip([be('t1', '10.0.1.5'), be('t3', '10.0.1.7')], { lb: { policy: 'least-connections' } })));
  t.same(changes(), ['SET_SERVICE tcp/10.0.0.2:80 lc'], 'policy change');

  await dp.apply(table(vip([be('t1', '10.0.1.5')], { lb: { policy: 'least-connections' } })));
  t.same(changes(), ['DEL_DEST tcp/10.0.0.2:80 10.0.1.7:8080'], 'removed without connections');
  t.same(kernelView(kernel), { 'tcp/10.0.0.2:80 lc': ['10.0.1.5:8080 w1'] });
});

t.test('a removed backend that keeps its connections goes after the drain deadline', async (t) => {
  const { kernel, dp, clock, changes } = setup(t, { orphanDrainMs: 30_000 });
  await dp.apply(table(vip([be('t1', '10.0.1.5'), be('t2', '10.0.1.6')])));
  kernel.setConnections(A, '10.0.1.6:8080', 1, 0);
  changes();
  clock.now = 1_000;
  await dp.apply(table(vip([be('t1', '10.0.1.5')])));
  t.same(changes(), ['SET_DEST tcp/10.0.0.2:80 10.0.1.6:8080 w0']);
  clock.now = 30_999;
  await dp.resync();
  t.same(changes(), [], 'before the deadline');
  clock.now = 31_000;
  await dp.resync();
  t.same(changes(), ['DEL_DEST tcp/10.0.0.2:80 10.0.1.6:8080'], 'at the deadline');
});

t.test('foreign services are never touched, FLUSH never sent', async (t) => {
  const kernel = new FakeIpvsKernel();
  kernel.addService(foreign('192.168.7.7'), [{ af: 2, address: '192.168.7.8', port: 443, fwdMethod: 3, weight: 5, upperThreshold: 0, lowerThreshold: 0, activeConns: 9, inactiveConns: 0, persistConns: 0 }]);
  const { dp, changes } = setup(t, { ownedRanges: ['10.0.0.0/24'] }, kernel);
  await dp.apply(table(vip([be('t1', '10.0.1.5')])));
  await dp.apply(table());
  t.same(changes(), ['NEW_SERVICE tcp/10.0.0.2:80 rr', 'NEW_DEST tcp/10.0.0.2:80 10.0.1.5:8080 w1', 'DEL_SERVICE tcp/10.0.0.2:80']);
  t.same(kernelView(kernel), { 'tcp/192.168.7.7:443 wlc': ['192.168.7.8:443 w5'] });
  await dp.close();
  t.notOk(kernel.commands.some((c) => c.cmd === IPVS_CMD.FLUSH), 'no FLUSH');
  t.notOk(kernel.commands.some((c) => c.cmd === IPVS_CMD.GET_DEST && c.service === 'tcp/192.168.7.7:443'), 'foreign destinations not even dumped');
  t.same(Object.keys(kernelView(kernel)), ['tcp/192.168.7.7:443 wlc'], 'close left the foreign service');
});

t.test('restart: a new daemon adopts its services and removes the ones no longer wanted', async (t) => {
  const kernel = new FakeIpvsKernel();
  const first = setup(t, { ownedRanges: ['10.0.0.0/24'] }, kernel);
  const ingress: Frontend = { id: 'ingress/tcp/192.168.1.10:8080', kind: 'ingress', protocol: 'tcp', address: '192.168.1.10', port: 8080, service: 'web', backends: [be('t1', '10.0.1.5')] };
  await first.dp.apply(table(vip([be('t1', '10.0.1.5')]), vip([], { id: 'vip/tcp/10.0.0.3:80', address: '10.0.0.3' }), ingress));
  kernel.addService(foreign('192.168.7.7'));
  // The first daemon dies without close(): its services stay in the kernel.

  const second = setup(t, { ownedRanges: ['10.0.0.0/24'] }, kernel);
  const r = await second.dp.apply(table(vip([be('t1', '10.0.1.5'), be('t2', '10.0.1.6')])));
  t.same(r.failed, []);
  t.same(second.changes(), [
    'NEW_DEST tcp/10.0.0.2:80 10.0.1.6:8080 w1',
    `DEL_SERVICE fwmark/${0x53481f90}`,
    'DEL_SERVICE tcp/10.0.0.3:80',
  ]);
  t.same(Object.keys(kernelView(kernel)), ['tcp/10.0.0.2:80 rr', 'tcp/192.168.7.7:443 wlc']);
  t.same(second.dp.ownedServices(), [A]);
});

t.test('a failing operation fails its frontend only; the next apply repairs it', async (t) => {
  const { kernel, dp, changes } = setup(t);
  kernel.failNext(IPVS_CMD.NEW_SERVICE, 2 /* ENOENT: no scheduler module */);
  const tbl = table(vip([be('t1', '10.0.1.5')]), vip([be('t2', '10.0.1.6')], { id: 'vip/tcp/10.0.0.3:80', address: '10.0.0.3' }));
  const r = await dp.apply(tbl);
  t.match(r.failed, [{ frontendId: 'vip/tcp/10.0.0.2:80', error: /IPVS new-service tcp\/10.0.0.2:80: ENOENT/ }]);
  t.same(changes(), ['NEW_SERVICE tcp/10.0.0.2:80 rr', 'NEW_SERVICE tcp/10.0.0.3:80 rr', 'NEW_DEST tcp/10.0.0.3:80 10.0.1.6:8080 w1'], 'its destinations were skipped');
  t.same(dp.ownedServices(), ['tcp/10.0.0.3:80'], 'not owned: never created');
  t.same((await dp.apply(tbl)).failed, []);
  t.same(changes(), ['NEW_SERVICE tcp/10.0.0.2:80 rr', 'NEW_DEST tcp/10.0.0.2:80 10.0.1.5:8080 w1']);
});

t.test('drift: a service removed behind shoal back is recreated on resync', async (t) => {
  const { kernel, dp, changes } = setup(t);
  await dp.apply(table(vip([be('t1', '10.0.1.5')])));
  changes();
  kernel.removeService(A);
  await dp.resync();
  t.same(changes(), ['NEW_SERVICE tcp/10.0.0.2:80 rr', 'NEW_DEST tcp/10.0.0.2:80 10.0.1.5:8080 w1']);
});

t.test('frontends IPVS cannot serve are reported, the others programmed', async (t) => {
  const { dp, changes } = setup(t);
  const r = await dp.apply(
    table(vip([be('t1', '10.0.1.5')]), {
      id: 'ingress/tcp/192.168.1.10:8443',
      kind: 'ingress',
      protocol: 'tcp',
      address: '192.168.1.10',
      port: 8443,
      service: 'web',
      backends: [],
      proxyProtocol: 'v1',
    }),
  );
  t.match(r.failed, [{ frontendId: 'ingress/tcp/192.168.1.10:8443', error: /needs the userspace dataplane/ }]);
  t.same(changes(), ['NEW_SERVICE tcp/10.0.0.2:80 rr', 'NEW_DEST tcp/10.0.0.2:80 10.0.1.5:8080 w1']);
});

t.test('a kernel without IPVS: every frontend fails with the reason', async (t) => {
  const kernel = new FakeIpvsKernel({ ipvsLoaded: false });
  const { dp } = setup(t, {}, kernel);
  const r = await dp.apply(table(vip([be('t1', '10.0.1.5')])));
  t.same(r.failed, [{ frontendId: 'vip/tcp/10.0.0.2:80', error: 'IPVS unavailable: generic netlink family IPVS not found' }]);
  kernel.setIpvsLoaded(true);
  t.same((await dp.apply(table(vip([be('t1', '10.0.1.5')])))).failed, [], 'works once the module is loaded');
});

t.test('a refused dump fails every frontend and changes nothing', async (t) => {
  const kernel = new FakeIpvsKernel();
  const { dp, changes } = setup(t, {}, kernel);
  kernel.failNext(IPVS_CMD.GET_SERVICE, 1 /* EPERM */);
  const r = await dp.apply(table(vip([be('t1', '10.0.1.5')])));
  t.match(r.failed, [{ frontendId: 'vip/tcp/10.0.0.2:80', error: /cannot read the IPVS table: IPVS GET_SERVICE dump: EPERM/ }]);
  t.same(changes(), []);
});

t.test('close removes owned services only; twice is safe; apply after close fails', async (t) => {
  const kernel = new FakeIpvsKernel();
  kernel.addService(foreign('192.168.7.7'));
  const { dp, changes } = setup(t, {}, kernel);
  await dp.apply(table(vip([be('t1', '10.0.1.5')])));
  changes();
  await dp.close();
  await dp.close();
  t.same(changes(), ['DEL_SERVICE tcp/10.0.0.2:80']);
  t.same(Object.keys(kernelView(kernel)), ['tcp/192.168.7.7:443 wlc']);
  t.same((await dp.apply(table(vip([])))).failed, [{ frontendId: 'vip/tcp/10.0.0.2:80', error: 'dataplane is closed' }]);
});

t.test('metrics count operations and owned services', async (t) => {
  const { dp, registry } = setup(t);
  await dp.apply(table(vip([be('t1', '10.0.1.5')])));
  const text = await registry.metrics();
  t.match(text, /shoal_ipvs_operations_total\{op="new_service",result="ok"\} 1/);
  t.match(text, /shoal_ipvs_operations_total\{op="new_dest",result="ok"\} 1/);
  t.match(text, /shoal_ipvs_services 1/);
  t.match(text, /shoal_ipvs_syncs_total\{result="ok"\} 1/);
});

t.test('resync timer re-applies the last table on its own', async (t) => {
  const kernel = new FakeIpvsKernel();
  const { dp, changes } = setup(t, { resyncIntervalMs: 20 }, kernel);
  await dp.apply(table(vip([be('t1', '10.0.1.5')])));
  changes();
  kernel.removeService(A);
  // Wait for the timer, bounded; the event is the service coming back.
  t.ok(await eventually(() => kernel.entry(A), 'the resync timer to recreate the service', 5_000), 'recreated by the timer');
});

t.test('invalid owned ranges are refused', async (t) => {
  t.throws(
    () => new IpvsDataplane({ transport: new FakeIpvsKernel(), logger: silent, registry: new Registry() }, { ownedRanges: ['10.0.0.0/99'] }),
    /invalid IPVS owned range "10.0.0.0\/99"/,
  );
});
