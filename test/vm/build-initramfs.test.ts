import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { initScript, moduleName, parseLdd, parseShowDepends, productionPackages } from './build-initramfs';

t.test('ldd output: libraries and the loader, not the vDSO', async (t) => {
  const text = [
    '\tlinux-vdso.so.1 (0x00007ffc1f5e2000)',
    '\tlibpopt.so.0 => /lib/x86_64-linux-gnu/libpopt.so.0 (0x00007f423f3e5000)',
    '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f423f1d9000)',
    '\t/lib64/ld-linux-x86-64.so.2 (0x00007f423f41e000)',
  ].join('\n');
  t.same(parseLdd(text), ['/lib/x86_64-linux-gnu/libpopt.so.0', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
  t.throws(() => parseLdd('\tlibnl-3.so.200 => not found\n', 'ipvsadm'), /ipvsadm: ldd cannot find libnl-3/);
});

t.test('modprobe --show-depends: insmod lines in order, builtins skipped', async (t) => {
  const text = [
    'insmod /lib/modules/6.1.0-56-amd64/kernel/lib/libcrc32c.ko ',
    'builtin crc32c_generic',
    'insmod /lib/modules/6.1.0-56-amd64/kernel/net/netfilter/nf_conntrack.ko.xz hashsize=1024',
    'insmod /lib/modules/6.1.0-56-amd64/kernel/net/netfilter/ipvs/ip_vs.ko',
  ].join('\n');
  t.same(parseShowDepends(text), [
    '/lib/modules/6.1.0-56-amd64/kernel/lib/libcrc32c.ko',
    '/lib/modules/6.1.0-56-amd64/kernel/net/netfilter/nf_conntrack.ko.xz',
    '/lib/modules/6.1.0-56-amd64/kernel/net/netfilter/ipvs/ip_vs.ko',
  ]);
});

t.test('module names as /sys/module shows them', async (t) => {
  const cases: [string, string][] = [
    ['/x/ip_vs.ko', 'ip_vs'],
    ['/x/crc32c-intel.ko', 'crc32c_intel'],
    ['/x/nf_defrag_ipv4.ko.xz', 'nf_defrag_ipv4'],
    ['/x/ip_vs_sh.ko.zst', 'ip_vs_sh'],
  ];
  for (const [path, name] of cases) t.equal(moduleName(path), name, path);
});

t.test('init runs the program, reports its status and always powers off', async (t) => {
  const lines = initScript('/shoal/test/vm/ipvs-in-vm.js').split('\n');
  t.equal(lines[0], '#!/bin/busybox sh');
  const runAt = lines.findIndex((l) => l.startsWith('node /shoal/test/vm/ipvs-in-vm.js '));
  t.ok(runAt > lines.indexOf('mount -t proc proc /proc'), 'runs after /proc is mounted');
  t.equal(lines[runAt + 1], 'echo "@@SHOAL-VM exit $?"');
  t.equal(lines[runAt + 2], 'poweroff -f');
});

t.test('production closure: dependencies resolved as node does, dev ones left out', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'shoal-closure-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const pkg = async (dir: string, json: object) => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'package.json'), JSON.stringify(json));
  };
  const nm = join(root, 'node_modules');
  await pkg(root, { dependencies: { a: '1', '@s/b': '1' }, devDependencies: { tap: '1' } });
  await pkg(join(nm, 'a'), { dependencies: { c: '1' }, optionalDependencies: { gone: '1' } });
  await pkg(join(nm, 'a', 'node_modules', 'c'), {});
  await pkg(join(nm, 'c'), {});
  await pkg(join(nm, '@s', 'b'), { dependencies: { c: '2' } });
  await pkg(join(nm, 'tap'), {});
  t.same(productionPackages(join(root, 'package.json'), nm), [join(nm, '@s', 'b'), join(nm, 'a'), join(nm, 'a', 'node_modules', 'c'), join(nm, 'c')].sort());

  await pkg(join(nm, 'a'), { dependencies: { missing: '1' } });
  t.throws(() => productionPackages(join(root, 'package.json'), nm), /dependency missing .* is not installed/);
});
