import t from 'tap';
import pino from 'pino';
import { InvalidArgumentError } from '../../../../src/errors';
import { FakeIpvsKernel, FAKE_IPVS_FAMILY_ID } from '../../../../src/mesh/dataplane/ipvs/fake-ipvs-kernel';
import { CAP_NET_ADMIN, IPVS_NOT_FOUND_REASON, hasCapability, probeIpvs, selectIpvs } from '../../../../src/mesh/dataplane/ipvs/ipvs-probe';
import type { IpvsProbeResult } from '../../../../src/mesh/dataplane/ipvs/ipvs-probe';
import { IPVS_CMD } from '../../../../src/mesh/dataplane/ipvs/ipvs-uapi';
import { GenlSocket } from '../../../../src/net/genl/genl-socket';
import { resolveFamily } from '../../../../src/net/genl/ctrl-family';

const ROOT_STATUS = 'Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n';
const USER_STATUS = 'Name:\tnode\nCapEff:\t0000000000000000\n';

/** Whether this machine's kernel has IPVS: the real probe's expected answer depends on it. */
async function kernelHasIpvs(): Promise<boolean> {
  const s = new GenlSocket();
  try {
    await resolveFamily(s, 'IPVS');
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}

t.test('the real probe on this machine', async (t) => {
  const result = await probeIpvs();
  if (await kernelHasIpvs()) {
    // In a VM with ip_vs this is the other branch; as root it must then succeed.
    t.equal(result.ok, process.getuid?.() === 0, `probe: ${JSON.stringify(result)}`);
    return;
  }
  t.same(result, { ok: false, reason: IPVS_NOT_FOUND_REASON });
  t.equal(IPVS_NOT_FOUND_REASON, 'generic netlink family IPVS not found (kernel without ip_vs; modprobe ip_vs)');
});

t.test('probe over a kernel with IPVS', async (t) => {
  const kernel = new FakeIpvsKernel();
  const result = await probeIpvs({ openTransport: () => kernel, readProcStatus: async () => ROOT_STATUS });
  t.same(result, { ok: true, familyId: FAKE_IPVS_FAMILY_ID, version: '1.2.1' });
  t.ok(kernel.commands.some((c) => c.cmd === IPVS_CMD.GET_INFO), 'asked IPVS itself');
  await t.rejects(kernel.request({ family: 0x10, cmd: 3, version: 1, kind: 'do', attrs: Buffer.alloc(0) }), /closed/, 'the probe closed its transport');
});

t.test('probe failures, one reason each', async (t) => {
  const cases: { name: string; kernel: () => FakeIpvsKernel; status?: string; open?: () => never; reason: RegExp }[] = [
    { name: 'no IPVS', kernel: () => new FakeIpvsKernel({ ipvsLoaded: false }), reason: /^generic netlink family IPVS not found \(kernel without ip_vs; modprobe ip_vs\)$/ },
    { name: 'no CAP_NET_ADMIN', kernel: () => new FakeIpvsKernel(), status: USER_STATUS, reason: /^CAP_NET_ADMIN missing/ },
    { name: 'unreadable /proc counts as no capability', kernel: () => new FakeIpvsKernel(), status: 'garbage', reason: /^CAP_NET_ADMIN missing/ },
    {
      name: 'IPVS refuses',
      kernel: () => {
        const k = new FakeIpvsKernel();
        k.failNext(IPVS_CMD.GET_INFO, 1);
        return k;
      },
      reason: /^IPVS does not answer \(IPVS GET_INFO: EPERM/,
    },
    {
      name: 'no netlink socket',
      kernel: () => new FakeIpvsKernel(),
      open: () => {
        throw new Error('EAFNOSUPPORT');
      },
      reason: /^cannot open a generic netlink socket \(EAFNOSUPPORT\)$/,
    },
  ];
  for (const c of cases) {
    const kernel = c.kernel();
    const result = await probeIpvs({ openTransport: c.open ?? (() => kernel), readProcStatus: async () => c.status ?? ROOT_STATUS });
    t.equal(result.ok, false, c.name);
    if (!result.ok) t.match(result.reason, c.reason, c.name);
  }
});

t.test('capability bits', async (t) => {
  t.ok(hasCapability(ROOT_STATUS, CAP_NET_ADMIN));
  t.notOk(hasCapability(USER_STATUS, CAP_NET_ADMIN));
  t.ok(hasCapability('CapEff:\t0000000000001000\n', 12), 'exactly bit 12');
  t.notOk(hasCapability('CapEff:\t0000000000000800\n', 12), 'bit 11 is not enough');
  t.notOk(hasCapability('CapPrm:\t0000000000001000\n', 12), 'only the effective set counts');
});

t.test('--dataplane auto passes IPVS over and says why; --dataplane ipvs fails with one line', async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
  const no: IpvsProbeResult = { ok: false, reason: IPVS_NOT_FOUND_REASON };

  t.equal(selectIpvs('auto', no, logger), false);
  t.equal(lines.length, 1);
  const logged = JSON.parse(lines[0]) as { msg: string; reason: string };
  t.equal(logged.reason, IPVS_NOT_FOUND_REASON);
  t.match(logged.msg, /^IPVS dataplane passed over: generic netlink family IPVS not found/);

  const err = (() => {
    try {
      selectIpvs('ipvs', no, logger);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.type(err, InvalidArgumentError);
  t.equal((err as Error).message, '--dataplane ipvs: generic netlink family IPVS not found (kernel without ip_vs; modprobe ip_vs)');
  t.notMatch((err as Error).message, /\n/, 'one line');

  t.equal(selectIpvs('ipvs', { ok: true, familyId: 30, version: '1.2.1' }, logger), true);
  t.equal(selectIpvs('auto', { ok: true, familyId: 30, version: '1.2.1' }, logger), true);
});

t.test('the real probe and selectIpvs together, as the daemon will call them', async (t) => {
  if (await kernelHasIpvs()) {
    t.pass('this kernel has IPVS; covered by the VM tests');
    return;
  }
  const probe = await probeIpvs();
  t.equal(selectIpvs('auto', probe, pino({ level: 'silent' })), false);
  t.throws(() => selectIpvs('ipvs', probe, pino({ level: 'silent' })), { message: `--dataplane ipvs: ${IPVS_NOT_FOUND_REASON}` });
});
