/**
 * Assemble the initramfs the IPVS VM test boots: busybox as the userland,
 * an /init that mounts the pseudo file systems and runs one node program,
 * node and ipvsadm with the shared libraries ldd names, the kernel modules
 * (decompressed, so busybox insmod can load them) with a load-order
 * manifest, and the compiled shoal tree with its production dependencies.
 *
 * Also a command: `node dist/test/vm/build-initramfs.js OUT.cpio.gz`
 * builds the image the test would boot, for poking at by hand.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import type { CpioEntry } from './cpio-newc';
import { writeCpioGz } from './cpio-newc';
import { IPVS_MODULES, checkVmHost } from './host-tools';
import type { VmHostTools } from './host-tools';

const run = promisify(execFile);
/** ldd and modprobe answer in milliseconds; this only bounds a hung tool. */
const TOOL_TIMEOUT_MS = 30_000;
/** Where the compiled project lives inside the image. */
export const IMAGE_PROJECT_DIR = '/shoal';
/** Where the in-VM program finds its settings. */
export const IMAGE_CONFIG_PATH = '/etc/shoal-vm.json';

/** A kernel module the in-VM program loads, in dependency order. */
export interface VmModule {
  /** Name as /sys/module shows it (dashes become underscores). */
  name: string;
  /** Path of the uncompressed .ko inside the image. */
  path: string;
}

/** What the in-VM program reads from IMAGE_CONFIG_PATH. */
export interface VmConfig {
  kernelVersion: string;
  modules: VmModule[];
}

/** What goes into the image. */
export interface InitramfsOptions {
  tools: Pick<VmHostTools, 'busybox' | 'ipvsadm' | 'modprobe' | 'ldd'>;
  kernelVersion: string;
  /** Module names to include, with their dependencies (modprobe --show-depends). */
  modules: readonly string[];
  /** Output directory of tsc (holds src/ and test/vm/). */
  compiledRoot: string;
  /** The project's node_modules (production dependencies are copied from it). */
  nodeModules: string;
  /** The project's package.json: its `dependencies` are the roots of what is copied. */
  packageJson: string;
  /** Program run by /init, relative to compiledRoot, e.g. `test/vm/ipvs-in-vm.js`. */
  program: string;
  /** The node binary to include; default the one running. */
  nodeBinary?: string;
  /** Where to write the gzip-compressed newc archive. */
  outFile: string;
}

/** What was built. */
export interface InitramfsResult {
  outFile: string;
  /** Bytes before compression. */
  unpackedBytes: number;
  entries: number;
  modules: VmModule[];
}

/** Build the initramfs described by `options`. */
export async function buildInitramfs(options: InitramfsOptions): Promise<InitramfsResult> {
  const entries: CpioEntry[] = [
    { kind: 'chardev', path: '/dev/console', mode: 0o600, major: 5, minor: 1 },
    ...['/proc', '/sys', '/tmp', '/root', '/etc'].map((path): CpioEntry => ({ kind: 'dir', path })),
  ];
  const program = `${IMAGE_PROJECT_DIR}/${options.program}`;
  entries.push({ kind: 'bytes', path: '/init', mode: 0o755, data: Buffer.from(initScript(program)) });

  const nodeBinary = options.nodeBinary ?? process.execPath;
  entries.push(fileEntry(nodeBinary, '/bin/node', 0o755), fileEntry(options.tools.busybox, '/bin/busybox', 0o755));
  entries.push(fileEntry(options.tools.ipvsadm, '/sbin/ipvsadm', 0o755));

  const projectFiles = compiledFiles(options.compiledRoot);
  const packages = productionPackages(options.packageJson, options.nodeModules);
  const packageFiles = packages.flatMap((dir) => packageFileList(dir).map((f) => ({ source: f, target: join(IMAGE_PROJECT_DIR, 'node_modules', relative(options.nodeModules, f)) })));
  for (const f of [...projectFiles, ...packageFiles]) entries.push(fileEntry(f.source, f.target, 0o644));

  // Native addons (netlink) need their libraries too, not only the executables.
  const needLibs = [nodeBinary, options.tools.busybox, options.tools.ipvsadm, ...packageFiles.filter((f) => f.source.endsWith('.node') && f.source.includes('linux-x64')).map((f) => f.source)];
  const libs = new Set<string>();
  for (const bin of needLibs) for (const lib of await sharedLibraries(options.tools.ldd, bin)) libs.add(lib);
  for (const lib of libs) entries.push(fileEntry(lib, lib, 0o755));

  const modules: VmModule[] = [];
  for (const m of await moduleFiles(options.tools.modprobe, options.kernelVersion, options.modules)) {
    const { path, data } = await uncompressedModule(m);
    modules.push({ name: moduleName(path), path });
    entries.push({ kind: 'bytes', path, mode: 0o644, data });
  }
  const config: VmConfig = { kernelVersion: options.kernelVersion, modules };
  entries.push({ kind: 'bytes', path: IMAGE_CONFIG_PATH, mode: 0o644, data: Buffer.from(JSON.stringify(config, null, 2)) });

  await writeCpioGz(entries, options.outFile);
  const unpackedBytes = entries.reduce((n, e) => n + (e.kind === 'file' ? e.size : e.kind === 'bytes' ? e.data.length : 0), 0);
  return { outFile: options.outFile, unpackedBytes, entries: entries.length, modules };
}

/**
 * PID 1 of the VM. Output goes to the console (ttyS0), where the host reads
 * it; whatever happens, the machine powers off so qemu exits (-no-reboot
 * turns the panic of a dying init into an exit too).
 */
export function initScript(program: string): string {
  return [
    '#!/bin/busybox sh',
    '/bin/busybox --install -s /bin',
    'export PATH=/bin:/sbin HOME=/root SHOAL_VM_GUEST=1',
    'mount -t proc proc /proc',
    'mount -t sysfs sysfs /sys',
    'mount -t devtmpfs devtmpfs /dev',
    'mount -t tmpfs tmpfs /tmp',
    'ip link set lo up',
    `node ${program} ${IMAGE_CONFIG_PATH}`,
    'echo "@@SHOAL-VM exit $?"',
    'poweroff -f',
    '',
  ].join('\n');
}

function fileEntry(source: string, target: string, mode: number): CpioEntry {
  return { kind: 'file', path: target, mode, source, size: statSync(source).size };
}

/** The compiled JavaScript of src/ and test/vm/ (test/vm holds the in-VM program). */
function compiledFiles(compiledRoot: string): { source: string; target: string }[] {
  return ['src', 'test/vm'].flatMap((sub) =>
    walk(join(compiledRoot, sub), () => true)
      .filter((f) => f.endsWith('.js'))
      .map((f) => ({ source: f, target: join(IMAGE_PROJECT_DIR, relative(compiledRoot, f)) })),
  );
}

/**
 * Package directories of the production dependency closure, resolved the
 * way node does (a nested node_modules first, then upwards), so the image
 * gets exactly what `require` would load and none of the dev tooling.
 */
export function productionPackages(packageJson: string, nodeModules: string): string[] {
  const seen = new Set<string>();
  const visit = (fromDir: string, manifest: string) => {
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    const required = Object.keys(pkg.dependencies ?? {});
    const optional = Object.keys(pkg.optionalDependencies ?? {});
    for (const name of [...required, ...optional]) {
      const dir = resolvePackage(name, fromDir, nodeModules);
      if (!dir) {
        if (optional.includes(name)) continue;
        throw new Error(`dependency ${name} of ${manifest} is not installed (run npm ci)`);
      }
      if (seen.has(dir)) continue;
      seen.add(dir);
      visit(dir, join(dir, 'package.json'));
    }
  };
  visit(dirname(resolve(packageJson)), resolve(packageJson));
  return [...seen].sort();
}

function resolvePackage(name: string, fromDir: string, nodeModules: string): string | undefined {
  const projectRoot = dirname(resolve(nodeModules));
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (isFile(join(candidate, 'package.json'))) return candidate;
    if (dir === projectRoot || dir === dirname(dir)) return undefined;
  }
}

/** Files of one package, without its nested node_modules (those are packages of their own). */
function packageFileList(dir: string): string[] {
  return walk(dir, (d) => basename(d) !== 'node_modules' || d === dir);
}

function walk(dir: string, enter: (dir: string) => boolean): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (enter(p)) out.push(...walk(p, enter));
    } else if (e.isFile()) {
      out.push(p);
    }
  }
  return out.sort();
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Absolute paths of the shared libraries (and the loader) `binary` needs; none for a static binary. */
export async function sharedLibraries(ldd: string, binary: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run(ldd, [binary], { timeout: TOOL_TIMEOUT_MS }));
  } catch (err) {
    // ldd exits 1 for a static executable ("not a dynamic executable").
    const text = String((err as { stdout?: string; stderr?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? '');
    if (/not a dynamic executable|statically linked/.test(text)) return [];
    throw err;
  }
  return parseLdd(stdout, binary);
}

/** The library paths in ldd output; a library ldd cannot find is an error, not a missing file in the VM. */
export function parseLdd(text: string, binary = 'binary'): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (/=>\s*not found/.test(line)) throw new Error(`${binary}: ldd cannot find ${line.trim()}`);
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m) out.push(m[1]);
  }
  return out;
}

/** Module files to load, in order, for `names` (each with its dependencies first, each once). */
async function moduleFiles(modprobe: string, kernelVersion: string, names: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const name of names) {
    const { stdout } = await run(modprobe, ['-S', kernelVersion, '--show-depends', name], { timeout: TOOL_TIMEOUT_MS });
    for (const path of parseShowDepends(stdout)) if (!out.includes(path)) out.push(path);
  }
  return out;
}

/** The .ko paths of `modprobe --show-depends` output (lines `insmod PATH [params]`; `builtin` lines need nothing). */
export function parseShowDepends(text: string): string[] {
  return text
    .split('\n')
    .map((l) => /^insmod\s+(\S+)/.exec(l.trim())?.[1])
    .filter((p): p is string => p !== undefined);
}

/** A module's bytes uncompressed, with its path in the image (the .ko without .xz/.zst/.gz). */
async function uncompressedModule(path: string): Promise<{ path: string; data: Buffer }> {
  if (path.endsWith('.ko')) return { path, data: await readFile(path) };
  const plain = path.replace(/\.(xz|zst|gz)$/, '');
  if (path.endsWith('.gz')) return { path: plain, data: gunzipSync(await readFile(path)) };
  const tool = path.endsWith('.xz') ? 'xz' : 'zstd';
  const { stdout } = await run(tool, ['-dc', path], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: TOOL_TIMEOUT_MS });
  return { path: plain, data: stdout };
}

/** The name the kernel gives a module file: `crc32c-intel.ko` is `crc32c_intel`. */
export function moduleName(path: string): string {
  return basename(path).replace(/\.ko(\..*)?$/, '').replace(/-/g, '_');
}

/** Build next to the compiled tree this file belongs to, for the command line. */
async function main(argv: string[]): Promise<void> {
  const outFile = argv[0];
  if (!outFile) throw new Error('usage: node build-initramfs.js OUT.cpio.gz');
  const host = checkVmHost();
  if (!host.ok) throw new Error(`missing: ${host.missing.join('; ')}`);
  const compiledRoot = resolve(__dirname, '..', '..');
  const projectRoot = findProjectRoot(compiledRoot);
  const result = await buildInitramfs({
    tools: host.tools,
    kernelVersion: host.tools.kernel.version,
    modules: IPVS_MODULES,
    compiledRoot,
    nodeModules: join(projectRoot, 'node_modules'),
    packageJson: join(projectRoot, 'package.json'),
    program: 'test/vm/ipvs-in-vm.js',
    outFile,
  });
  process.stdout.write(`${result.outFile}: ${result.entries} entries, ${(result.unpackedBytes / 1e6).toFixed(1)} MB unpacked; kernel ${host.tools.kernel.image}\n`);
}

/** The nearest directory at or above `from` with a package.json and node_modules. */
export function findProjectRoot(from: string): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (isFile(join(dir, 'package.json')) && isDirectory(join(dir, 'node_modules'))) return dir;
    if (dir === dirname(dir)) throw new Error(`no project with node_modules above ${from}`);
  }
}

if (require.main === module && process.env.TAP === '1' && process.argv.length <= 2) {
  // A `tap <dir>` run starts every file; this one is a command, not a test.
  process.stdout.write('1..0 # a command (build-initramfs.js OUT.cpio.gz), not a test\n');
} else if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
