/**
 * The real socket against this machine's kernel: the controller answers for
 * families that exist (nlctrl always does), dumps arrive whole, errors map
 * to errnos. Read-only: nothing here changes kernel state.
 */
import t from 'tap';
import { FamilyNotFoundError, listFamilies, resolveFamily, GENL_ID_CTRL } from '../../../src/net/genl/ctrl-family';
import { GenlSocket } from '../../../src/net/genl/genl-socket';
import { NetlinkError } from '../../../src/net/genl/netlink-error';
import { UnavailableError } from '../../../src/errors';

t.test('resolve a family that exists: nlctrl', async (t) => {
  const s = new GenlSocket();
  t.teardown(() => s.close());
  const f = await resolveFamily(s, 'nlctrl');
  t.equal(f.id, GENL_ID_CTRL, 'the controller is always family 0x10');
  t.equal(f.name, 'nlctrl');
  t.ok(f.version >= 1);
  t.ok('notify' in f.mcastGroups, 'the controller has its notify group');
});

t.test('dump every family; each resolves by name to the same id', async (t) => {
  const s = new GenlSocket();
  t.teardown(() => s.close());
  const families = await listFamilies(s);
  t.ok(families.length >= 2, `${families.length} families`);
  t.ok(families.some((f) => f.name === 'nlctrl'));
  // Requests may overlap on one socket: answers are matched by sequence number.
  const resolved = await Promise.all(families.map((f) => resolveFamily(s, f.name)));
  t.same(
    resolved.map((f) => [f.name, f.id]),
    families.map((f) => [f.name, f.id]),
  );
});

t.test('a family this kernel lacks', async (t) => {
  const s = new GenlSocket();
  t.teardown(() => s.close());
  await t.rejects(resolveFamily(s, 'shoal-nope'), FamilyNotFoundError);
});

t.test('a request to an unregistered family id fails with its errno', async (t) => {
  const s = new GenlSocket();
  t.teardown(() => s.close());
  // 0x3ff is the highest id generic netlink hands out; nothing registers it on an ordinary host.
  const err = await s.request({ family: 0x3ff, cmd: 1, version: 1, kind: 'do', attrs: Buffer.alloc(0) }, 'probe 0x3ff').catch((e: unknown) => e);
  t.type(err, NetlinkError);
  t.equal((err as NetlinkError).errnoName, 'ENOENT');
  t.match((err as Error).message, /^probe 0x3ff: ENOENT/);
});

t.test('close: pending and later requests reject, twice is safe', async (t) => {
  const s = new GenlSocket();
  t.ok(s.portId > 0, 'bound to a port');
  const pending = resolveFamily(s, 'nlctrl');
  s.close();
  s.close();
  // The kernel may answer before close runs; either way the call settles.
  await pending.then(
    () => t.pass('answered before close'),
    (e: unknown) => t.type(e, UnavailableError),
  );
  await t.rejects(resolveFamily(s, 'nlctrl'), UnavailableError);
});
