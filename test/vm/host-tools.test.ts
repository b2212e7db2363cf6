import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { checkVmHost, findExecutable, findIpvsKernel } from './host-tools';

t.test('what is missing, named with the package that provides it', async (t) => {
  const kernel = { image: '/boot/vmlinuz-6.1.0-56-amd64', version: '6.1.0-56-amd64' };
  const bare = checkVmHost({ findExecutable: () => undefined, findIpvsKernel: () => undefined, readable: () => true });
  t.same(bare, {
    ok: false,
    missing: [
      'qemu-system-x86_64 (package qemu-system-x86)',
      'busybox (package busybox-static)',
      'ipvsadm (package ipvsadm)',
      'modprobe (package kmod)',
      'ldd (package libc-bin)',
      '/boot/vmlinuz-* with the ip_vs module (package linux-image-amd64)',
    ],
  });
  const noQemu = checkVmHost({ findExecutable: (n) => (n === 'qemu-system-x86_64' ? undefined : `/usr/bin/${n}`), findIpvsKernel: () => kernel, readable: () => true });
  t.same(noQemu, { ok: false, missing: ['qemu-system-x86_64 (package qemu-system-x86)'] });
  const unreadable = checkVmHost({ findExecutable: (n) => `/usr/bin/${n}`, findIpvsKernel: () => kernel, readable: () => false });
  t.match(unreadable, { ok: false, missing: [/read access to \/boot\/vmlinuz-6\.1\.0-56-amd64/] });
  const all = checkVmHost({ findExecutable: (n) => `/usr/bin/${n}`, findIpvsKernel: () => kernel, readable: () => true });
  t.match(all, { ok: true, tools: { qemu: '/usr/bin/qemu-system-x86_64', ipvsadm: '/usr/bin/ipvsadm', kernel } });
});

t.test('the newest kernel that has the ip_vs module', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'shoal-kernels-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const boot = join(root, 'boot');
  const modules = join(root, 'modules');
  await mkdir(boot);
  for (const v of ['6.1.0-9-amd64', '6.1.0-56-amd64', '6.12.0-1-amd64']) await writeFile(join(boot, `vmlinuz-${v}`), '');
  t.equal(findIpvsKernel(boot, modules), undefined, 'no module trees');
  for (const [v, file] of [['6.1.0-9-amd64', 'ip_vs.ko'], ['6.1.0-56-amd64', 'ip_vs.ko.xz']]) {
    await mkdir(join(modules, v, 'kernel/net/netfilter/ipvs'), { recursive: true });
    await writeFile(join(modules, v, 'kernel/net/netfilter/ipvs', file), '');
  }
  // 6.12 has no module tree here; 56 sorts after 9 numerically.
  t.same(findIpvsKernel(boot, modules), { image: join(boot, 'vmlinuz-6.1.0-56-amd64'), version: '6.1.0-56-amd64' });
  t.equal(findIpvsKernel(join(root, 'nonexistent'), modules), undefined);
});

t.test('executables on PATH', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-path-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'shoal-test-tool'), '#!/bin/sh\n');
  await writeFile(join(dir, 'shoal-test-plain'), '');
  await chmod(join(dir, 'shoal-test-tool'), 0o755);
  t.equal(findExecutable('shoal-test-tool', dir), join(dir, 'shoal-test-tool'));
  t.equal(findExecutable('shoal-test-plain', dir), undefined, 'not executable');
  t.equal(findExecutable('shoal-test-none', dir), undefined);
});
