/**
 * The IPVS dataplane against a real kernel: Debian's kernel (ip_vs as a
 * module) boots under qemu with an initramfs holding node, ipvsadm and
 * shoal; ipvs-in-vm.ts programs IPVS through shoal's generic netlink code
 * and prints `ipvsadm -Ln` after each step; this test reads the console and
 * checks what ipvsadm saw. Skipped, saying what to install, when the host
 * lacks qemu, the kernel or ipvsadm (CI does). See test/vm/README.md.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { buildInitramfs, findProjectRoot } from './build-initramfs';
import { IPVS_MODULES, VM_APT_LINE, checkVmHost } from './host-tools';
import { ingressFwmark } from '../../src/mesh/dataplane/ipvs/ipvs-desired';
import { VM_BACKENDS, VM_BACKEND_PORT, VM_FOREIGN, VM_FWMARK_INGRESS, VM_INGRESS, VM_UDP_BACKEND_PORT, VM_VIP } from './ipvs-in-vm';
import type { IpvsadmListing } from './ipvsadm-listing';
import { parseIpvsadmList } from './ipvsadm-listing';
import { accelsFromEnv, bootWithFallback, describeEnd } from './qemu-runner';
import { VM_MARKER, parseVmConsole } from './vm-console';

/** Guest memory: the initramfs (about 120 MB unpacked) lives in RAM next to node. */
const VM_MEMORY_MB = 1024;
/** Whole-run limits: a KVM guest is done in seconds; TCG emulates every instruction. */
const RUN_TIMEOUT_MS = { kvm: 60_000, tcg: 200_000 };
/** A KVM guest silent this long is taken to be stuck (nested virtualisation) and TCG is tried. */
const KVM_STALL_MS = 30_000;
/** Within tap's 300 s per file: build, a failed KVM attempt and a full TCG run. */
const TEST_TIMEOUT_MS = 290_000;
/** Console lines shown when the VM did not finish, to say why. */
const CONSOLE_TAIL_LINES = 60;

const host = checkVmHost();
const skip = host.ok ? false : `IPVS VM test skipped: missing ${host.missing.join('; ')}. Install with: ${VM_APT_LINE} (see test/vm/README.md)`;

/** A listing as sorted lines, `TCP 10.0.0.192:80 rr` and `  10.0.1.1:8080 Masq w1 active1`, so a mismatch diffs readably. */
function summary(listing: IpvsadmListing): string[] {
  return [...listing.services]
    .sort((a, b) => (`${a.protocol} ${a.address}` < `${b.protocol} ${b.address}` ? -1 : 1))
    .flatMap((s) => [
      [s.protocol, s.address, s.scheduler, s.flags].filter(Boolean).join(' '),
      ...[...s.dests].sort((a, b) => (a.address < b.address ? -1 : 1)).map((d) => `  ${d.address} ${d.forward} w${d.weight} active${d.activeConns}`),
    ]);
}

const vip = `TCP ${VM_VIP.address}:${VM_VIP.port}`;
const tcpDest = (i: number, weight: number, active: number) => `  ${VM_BACKENDS[i]}:${VM_BACKEND_PORT} Masq w${weight} active${active}`;
const udp = `UDP ${VM_INGRESS.address}:${VM_INGRESS.port} sh (sh-fallback)`;
const udpDest = (i: number) => `  ${VM_BACKENDS[i]}:${VM_UDP_BACKEND_PORT} Masq w1 active0`;
const foreign = [`TCP ${VM_FOREIGN.service} rr`, `  ${VM_FOREIGN.dest} Masq w3 active0`];

/** What `ipvsadm -Ln` must show after each step of ipvs-in-vm.ts. */
const EXPECTED: Record<string, string[]> = {
  before: foreign,
  initial: [`${vip} rr`, tcpDest(0, 1, 0), tcpDest(1, 1, 0), ...foreign, udp, udpDest(0), udpDest(1)],
  // Backend 2 holds one connection, so draining keeps it at weight 0 rather than deleting it.
  drain: [`${vip} rr`, tcpDest(0, 1, 1), tcpDest(1, 0, 1), tcpDest(2, 1, 0), ...foreign, udp, udpDest(0), udpDest(1)],
  change: [`${vip} lc`, tcpDest(0, 1, 1), tcpDest(1, 0, 1), ...foreign, udp, udpDest(0)],
  closed: foreign,
  fwmark: [`FWM ${ingressFwmark('tcp', VM_FWMARK_INGRESS.port)} rr`, `  ${VM_BACKENDS[0]}:${VM_FWMARK_INGRESS.port} Masq w1 active0`, ...foreign],
  'fwmark-closed': foreign,
};

t.test('IPVS dataplane programs a real kernel in a VM', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  if (!host.ok) return;
  const dir = await mkdtemp(join(tmpdir(), 'shoal-ipvs-vm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const abort = new AbortController();
  t.teardown(() => abort.abort());

  const compiledRoot = resolve(__dirname, '..', '..');
  const projectRoot = findProjectRoot(compiledRoot);
  const image = await buildInitramfs({
    tools: host.tools,
    kernelVersion: host.tools.kernel.version,
    modules: IPVS_MODULES,
    compiledRoot,
    nodeModules: join(projectRoot, 'node_modules'),
    packageJson: join(projectRoot, 'package.json'),
    program: 'test/vm/ipvs-in-vm.js',
    outFile: join(dir, 'initrd.cpio.gz'),
  });
  t.ok(image.modules.some((m) => m.name === 'ip_vs'), 'the image carries the ip_vs module');

  const attempts = await bootWithFallback(
    { qemu: host.tools.qemu, kernel: host.tools.kernel.image, initrd: image.outFile, append: 'console=ttyS0 panic=-1 quiet', memoryMb: VM_MEMORY_MB },
    {
      accels: accelsFromEnv(),
      timeoutMs: RUN_TIMEOUT_MS,
      kvmStallDeadlineMs: KVM_STALL_MS,
      stallMarker: `${VM_MARKER} json booted`,
      signal: abort.signal,
    },
  );
  const run = attempts[attempts.length - 1];
  t.comment(`kernel ${host.tools.kernel.version}; ${attempts.map((a) => `${a.accel}: ${describeEnd(a)}`).join(', ')}`);

  if (process.env.SHOAL_VM_CONSOLE) await writeFile(process.env.SHOAL_VM_CONSOLE, attempts.map((a) => a.console).join('\n'));
  const vm = parseVmConsole(run.console);
  if (!vm.json.has('done') || vm.exitCode !== 0) {
    const tail = run.console.split(/\r?\n/).slice(-CONSOLE_TAIL_LINES).join('\n');
    t.fail(`the VM did not finish (qemu ${describeEnd(run)}, program exit ${vm.exitCode})`, { errors: vm.errors, console: tail });
    return;
  }
  t.same(vm.errors, [], `no ${VM_MARKER} errors`);
  t.match(vm.json.get('modules'), { ipvs: true }, 'ip_vs loaded');
  t.match(vm.json.get('probe'), { ok: true, version: /^\d+\.\d+\.\d+$/ }, 'probeIpvs finds IPVS');

  const owned = [`tcp/${VM_VIP.address}:${VM_VIP.port}`, `udp/${VM_INGRESS.address}:${VM_INGRESS.port}`];
  for (const step of ['initial', 'drain', 'change']) {
    const applied = vm.json.get(`apply-${step}`) as { result?: unknown; again?: unknown; reapplyOps?: unknown; owned?: unknown } | undefined;
    t.same(applied?.result, { failed: [] }, `${step}: every frontend applied`);
    t.same(applied?.again, { failed: [] }, `${step}: applied again`);
    t.equal(applied?.reapplyOps, 0, `${step}: applying it again sends nothing (the kernel's dump reads back as what was sent)`);
    t.same(applied?.owned, owned, `${step}: shoal owns its two services, not the foreign one`);
  }
  const fwmark = vm.json.get('apply-fwmark') as { result?: unknown; reapplyOps?: unknown; owned?: unknown } | undefined;
  t.same(fwmark?.result, { failed: [] }, 'fwmark ingress: applied');
  t.equal(fwmark?.reapplyOps, 0, 'fwmark ingress: applying it again sends nothing');
  t.same(fwmark?.owned, [`fwmark/${ingressFwmark('tcp', VM_FWMARK_INGRESS.port)}`], 'fwmark ingress: shoal owns the mark service only');
  t.same(vm.json.get('connections'), { accepted: [VM_BACKENDS[0], VM_BACKENDS[1]] }, 'connections through the VIP reached both backends');

  for (const [step, expected] of Object.entries(EXPECTED)) {
    const text = vm.blocks.get(step);
    if (text === undefined) {
      t.fail(`no ipvsadm listing for ${step}`);
      continue;
    }
    t.same(summary(parseIpvsadmList(text)), expected, `ipvsadm -Ln after ${step}`);
  }
});
