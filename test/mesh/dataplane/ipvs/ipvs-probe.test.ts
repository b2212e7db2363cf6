import t from 'tap';
import { InvalidArgumentError } from '../../../../src/errors';
import { FakeIpvsKernel, FAKE_IPVS_FAMILY_ID } from '../../../../src/mesh/dataplane/ipvs/fake-ipvs-kernel';
import { IPVS_NOT_FOUND_REASON, probeIpvs } from '../../../../src/mesh/dataplane/ipvs/ipvs-probe';
import { chooseDataplane } from '../../../../src/mesh/dataplane/select';
import { CAP_NET_ADMIN, hasCapability } from '../../../../src/net/capabilities';
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
  const no: IpvsProbeResult = { ok: false, reason: IPVS_NOT_FOUND_REASON };
  const nft = { ok: true as const };

  const auto = chooseDataplane('auto', { ipvs: no, nftables: nft });
  t.equal(auto.name, 'nftables');
  t.same(auto.passedOver, [{ name: 'ipvs', reason: IPVS_NOT_FOUND_REASON }]);
  t.match(auto.passedOver[0].reason, /^generic netlink family IPVS not found/);

  const err = (() => {
    try {
      chooseDataplane('ipvs', { ipvs: no });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.type(err, InvalidArgumentError);
  t.equal((err as Error).message, '--dataplane ipvs cannot be used: generic netlink family IPVS not found (kernel without ip_vs; modprobe ip_vs)');
  t.notMatch((err as Error).message, /\n/, 'one line');

  const yes = { ok: true as const };
  t.equal(chooseDataplane('ipvs', { ipvs: yes }).name, 'ipvs');
  t.equal(chooseDataplane('auto', { ipvs: yes, nftables: nft }).name, 'ipvs');
});

t.test('the real probe and the dataplane choice together, as the daemon calls them', async (t) => {
  if (await kernelHasIpvs()) {
    t.pass('this kernel has IPVS; covered by the VM tests');
    return;
  }
  const probe = await probeIpvs();
  const reason = probe.ok ? '' : probe.reason;
  t.same(chooseDataplane('auto', { ipvs: { ok: false, reason }, nftables: { ok: true } }).passedOver, [{ name: 'ipvs', reason: IPVS_NOT_FOUND_REASON }]);
  t.throws(() => chooseDataplane('ipvs', { ipvs: { ok: false, reason } }), { message: `--dataplane ipvs cannot be used: ${IPVS_NOT_FOUND_REASON}` });
});
