/**
 * What the host needs to run the IPVS VM test, found or reported missing
 * with the Debian package that provides it: the one place that decides
 * whether the test runs or is skipped.
 */
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Directories searched after PATH: ipvsadm and modprobe live in sbin, which a non-login PATH may lack. */
const EXTRA_BIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];

/** The apt-get line that installs everything the VM test needs. */
export const VM_APT_LINE = 'apt-get install -y qemu-system-x86 linux-image-amd64 ipvsadm busybox-static kmod xz-utils';

/** Absolute paths of the host tools the VM test uses. */
export interface VmHostTools {
  qemu: string;
  busybox: string;
  ipvsadm: string;
  modprobe: string;
  ldd: string;
  /** Kernel image to boot and the version of its module tree. */
  kernel: { image: string; version: string };
}

/** The tools, or the packages whose absence makes the test skip. */
export type VmHostCheck = { ok: true; tools: VmHostTools } | { ok: false; missing: string[] };

/** Path of an executable named `name` on PATH (or in the sbin directories), if any. */
export function findExecutable(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...path.split(delimiter).filter(Boolean), ...EXTRA_BIN_DIRS]) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Kernel module file stems the in-VM test loads (their dependencies come along). */
export const IPVS_MODULES = ['ip_vs', 'ip_vs_rr', 'ip_vs_lc', 'ip_vs_sh'];

/**
 * The newest /boot/vmlinuz-<version> whose /lib/modules/<version> has the
 * IPVS module (Debian's linux-image-amd64 builds it as a module).
 */
export function findIpvsKernel(bootDir = '/boot', modulesDir = '/lib/modules'): { image: string; version: string } | undefined {
  let names: string[];
  try {
    names = readdirSync(bootDir);
  } catch {
    return undefined;
  }
  const versions = names
    .filter((n) => n.startsWith('vmlinuz-'))
    .map((n) => n.slice('vmlinuz-'.length))
    .filter((v) => hasIpvsModule(join(modulesDir, v)))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const version = versions.at(-1);
  return version === undefined ? undefined : { image: join(bootDir, `vmlinuz-${version}`), version };
}

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function hasIpvsModule(tree: string): boolean {
  const dir = join(tree, 'kernel/net/netfilter/ipvs');
  return ['ip_vs.ko', 'ip_vs.ko.xz', 'ip_vs.ko.zst', 'ip_vs.ko.gz'].some((f) => existsSync(join(dir, f)));
}

/** How checkVmHost looks at the host; tests hand in a pretend one. */
export interface VmHostProbe {
  findExecutable: (name: string) => string | undefined;
  findIpvsKernel: () => { image: string; version: string } | undefined;
  readable: (file: string) => boolean;
}

const realHost: VmHostProbe = { findExecutable: (name) => findExecutable(name), findIpvsKernel: () => findIpvsKernel(), readable };

/** Check the host for everything the VM test needs. */
export function checkVmHost(probe: VmHostProbe = realHost): VmHostCheck {
  const missing: string[] = [];
  const need = (name: string, pkg: string) => {
    const found = probe.findExecutable(name);
    if (!found) missing.push(`${name} (package ${pkg})`);
    return found ?? '';
  };
  const qemu = need('qemu-system-x86_64', 'qemu-system-x86');
  const busybox = need('busybox', 'busybox-static');
  const ipvsadm = need('ipvsadm', 'ipvsadm');
  const modprobe = need('modprobe', 'kmod');
  const ldd = need('ldd', 'libc-bin');
  const kernel = probe.findIpvsKernel();
  if (!kernel) missing.push('/boot/vmlinuz-* with the ip_vs module (package linux-image-amd64)');
  else if (!probe.readable(kernel.image)) missing.push(`read access to ${kernel.image} (Debian makes it root-only; run as root)`);
  if (missing.length > 0 || !kernel) return { ok: false, missing };
  return { ok: true, tools: { qemu, busybox, ipvsadm, modprobe, ldd, kernel } };
}
