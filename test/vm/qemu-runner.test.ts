import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { accelsFromEnv, bootWithFallback, describeEnd, kvmAvailable, qemuArgs } from './qemu-runner';
import type { QemuRunResult } from './qemu-runner';

const boot = { qemu: 'qemu-system-x86_64', kernel: '/boot/vmlinuz-6.1.0-56-amd64', initrd: '/tmp/i.cpio.gz', append: 'console=ttyS0 panic=-1', memoryMb: 1024 };

t.test('command line: no network, no reboot, KVM with the host CPU or TCG', async (t) => {
  const kvm = qemuArgs(boot, 'kvm');
  const tcg = qemuArgs(boot, 'tcg');
  t.same(kvm.slice(0, 6), ['-nographic', '-no-reboot', '-nic', 'none', '-m', '1024']);
  t.ok(kvm.join(' ').includes('-enable-kvm -cpu host'));
  t.notOk(tcg.includes('-enable-kvm'));
  t.ok(tcg.join(' ').includes('-cpu max'));
  t.ok(tcg.join(' ').endsWith('-kernel /boot/vmlinuz-6.1.0-56-amd64 -initrd /tmp/i.cpio.gz -append console=ttyS0 panic=-1'));
});

t.test('accelerators from SHOAL_VM_ACCEL', async (t) => {
  t.same(accelsFromEnv('kvm'), ['kvm']);
  t.same(accelsFromEnv('tcg'), ['tcg']);
  t.equal(accelsFromEnv(undefined), undefined);
  t.equal(accelsFromEnv('other'), undefined);
  t.equal(kvmAvailable('/nonexistent/kvm'), false);
});

/** A stand-in for qemu: a shell script that acts on whether it was asked for KVM. */
async function fakeQemu(t: tap.Test, onKvm: string, onTcg: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-fake-qemu-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'qemu');
  // exec: the killed process is the sleeping one itself, nothing is left behind.
  await writeFile(file, `#!/bin/sh\ncase "$*" in\n  *-enable-kvm*) ${onKvm} ;;\n  *) ${onTcg} ;;\nesac\n`);
  await chmod(file, 0o755);
  return file;
}

const BOOTED = '@@SHOAL-VM json booted';
const limits = { timeoutMs: { kvm: 20_000, tcg: 20_000 }, kvmStallDeadlineMs: 300, stallMarker: BOOTED };
const summary = (runs: QemuRunResult[]) => runs.map((r) => `${r.accel} ${describeEnd(r)}${r.console.includes(BOOTED) ? ' booted' : ''}`);

t.test('fallback to TCG and the ways a run is ended', async (t) => {
  const cases: { name: string; kvm: string; tcg: string; accels?: ('kvm' | 'tcg')[]; timeoutMs?: number; abort?: boolean; want: string[] }[] = [
    { name: 'KVM silent: stalled, then TCG', kvm: 'exec sleep 30', tcg: `echo '${BOOTED} {}'`, want: ['kvm killed (stalled)', 'tcg exit 0 booted'] },
    { name: 'KVM refused by qemu, then TCG', kvm: 'echo "failed to set MSR" >&2; exit 134', tcg: `echo '${BOOTED} {}'`, want: ['kvm exit 134', 'tcg exit 0 booted'] },
    { name: 'qemu asserting (SIGABRT) under KVM, then TCG', kvm: 'kill -ABRT $$', tcg: `echo '${BOOTED} {}'`, want: ['kvm signal SIGABRT', 'tcg exit 0 booted'] },
    { name: 'KVM works: no TCG run', kvm: `echo '${BOOTED} {}'; exit 3`, tcg: 'exit 9', want: ['kvm exit 3 booted'] },
    { name: 'TCG alone past its deadline', kvm: 'exit 9', tcg: `echo '${BOOTED} {}'; exec sleep 30`, accels: ['tcg'], timeoutMs: 300, want: ['tcg killed (timeout) booted'] },
    { name: 'aborted: killed, nothing retried', kvm: 'exec sleep 30', tcg: 'exit 9', abort: true, want: ['kvm killed (aborted)'] },
  ];
  for (const c of cases) {
    const qemu = await fakeQemu(t, c.kvm, c.tcg);
    const abort = new AbortController();
    if (c.abort) setImmediate(() => abort.abort());
    const runs = await bootWithFallback(
      { ...boot, qemu },
      { ...limits, accels: c.accels ?? ['kvm', 'tcg'], timeoutMs: { kvm: 20_000, tcg: c.timeoutMs ?? 20_000 }, kvmStallDeadlineMs: c.abort ? 20_000 : 300, signal: abort.signal },
    );
    t.same(summary(runs), c.want, c.name);
  }
});
