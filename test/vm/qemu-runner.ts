/**
 * Boot a kernel and initramfs under qemu with no network and no disk,
 * capture the serial console, and always end the qemu process: at the
 * deadline, when the caller aborts, or when the guest powers off. KVM is
 * tried first when /dev/kvm opens; a KVM that fails (qemu aborts, or the
 * guest stays silent, as happens under some nested hypervisors) falls back
 * to TCG, software emulation.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';

/** How the guest CPU runs. */
export type Accel = 'kvm' | 'tcg';

/** What to boot. */
export interface QemuBoot {
  qemu: string;
  kernel: string;
  initrd: string;
  /** Kernel command line. */
  append: string;
  memoryMb: number;
}

/** One run's limits. */
export interface QemuRunOptions {
  accel: Accel;
  /** The whole run, boot to power-off. */
  timeoutMs: number;
  /** When set, the run is given up as stalled unless the console shows `stallMarker` this soon. */
  stallDeadlineMs?: number;
  stallMarker?: string;
  /** Aborting kills qemu (the test's teardown). */
  signal?: AbortSignal;
}

/** How a run ended. */
export interface QemuRunResult {
  accel: Accel;
  console: string;
  exitCode: number | null;
  /** The signal that ended qemu (SIGABRT when it asserts, SIGKILL when killed here). */
  signal: NodeJS.Signals | null;
  /** `timeout`, `stalled` or `aborted` when qemu was killed; undefined when it exited by itself. */
  killed: 'timeout' | 'stalled' | 'aborted' | undefined;
}

/** Console bytes kept; a guest that loops printing must not fill the test's memory. */
const MAX_CONSOLE_BYTES = 8 * 1024 * 1024;

/** The qemu command line: serial console on stdio, no NIC, no reboot (a panic or reboot ends qemu). */
export function qemuArgs(boot: QemuBoot, accel: Accel): string[] {
  const cpu = accel === 'kvm' ? ['-enable-kvm', '-cpu', 'host'] : ['-cpu', 'max'];
  return [
    '-nographic',
    '-no-reboot',
    '-nic',
    'none',
    '-m',
    String(boot.memoryMb),
    ...cpu,
    '-kernel',
    boot.kernel,
    '-initrd',
    boot.initrd,
    '-append',
    boot.append,
  ];
}

/** Whether /dev/kvm can be opened for reading and writing (whether KVM then works is another matter). */
export function kvmAvailable(device = '/dev/kvm'): boolean {
  try {
    closeSync(openSync(device, constants.O_RDWR));
    return true;
  } catch {
    return false;
  }
}

/** How a run ended, in a few words: `killed (stalled)`, `signal SIGABRT`, `exit 0`. */
export function describeEnd(r: QemuRunResult): string {
  if (r.killed) return `killed (${r.killed})`;
  return r.signal ? `signal ${r.signal}` : `exit ${r.exitCode}`;
}

/** Run qemu once. */
export function runQemu(boot: QemuBoot, options: QemuRunOptions): Promise<QemuRunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(boot.qemu, qemuArgs(boot, options.accel), { stdio: ['ignore', 'pipe', 'pipe'] });
    let console = '';
    let killed: QemuRunResult['killed'];
    const kill = (why: NonNullable<QemuRunResult['killed']>) => {
      if (killed || child.exitCode !== null || child.signalCode !== null) return;
      killed = why;
      child.kill('SIGKILL');
    };
    const append = (chunk: Buffer) => {
      if (console.length < MAX_CONSOLE_BYTES) console += chunk.toString('utf8');
      if (stallTimer && options.stallMarker && console.includes(options.stallMarker)) clearTimeout(stallTimer);
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    const timer = setTimeout(() => kill('timeout'), options.timeoutMs);
    const stallTimer = options.stallDeadlineMs !== undefined ? setTimeout(() => kill('stalled'), options.stallDeadlineMs) : undefined;
    const onAbort = () => kill('aborted');
    options.signal?.addEventListener('abort', onAbort);
    if (options.signal?.aborted) onAbort();
    const done = () => {
      clearTimeout(timer);
      if (stallTimer) clearTimeout(stallTimer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (err) => {
      done();
      reject(err);
    });
    child.once('close', (code, signal) => {
      done();
      resolve({ accel: options.accel, console, exitCode: code, signal, killed });
    });
  });
}

/** Limits of a boot with fallback. */
export interface BootOptions {
  /** Accelerators to try in order; default KVM then TCG when /dev/kvm opens, else TCG. */
  accels?: Accel[];
  /** Whole-run limit per accelerator. */
  timeoutMs: Record<Accel, number>;
  /** A KVM guest that has not printed `stallMarker` this soon is given up for TCG. */
  kvmStallDeadlineMs: number;
  stallMarker: string;
  signal?: AbortSignal;
}

/**
 * Boot with the first accelerator that gets the guest going: a KVM run that
 * qemu refuses (exits without the marker) or that stalls is retried under
 * TCG. Returns every attempt, the last one being the one that counts.
 */
export async function bootWithFallback(boot: QemuBoot, options: BootOptions): Promise<QemuRunResult[]> {
  const accels = options.accels ?? (kvmAvailable() ? ['kvm', 'tcg'] : ['tcg']);
  const attempts: QemuRunResult[] = [];
  for (const [i, accel] of accels.entries()) {
    const last = i === accels.length - 1;
    const result = await runQemu(boot, {
      accel,
      timeoutMs: options.timeoutMs[accel],
      stallDeadlineMs: accel === 'kvm' && !last ? options.kvmStallDeadlineMs : undefined,
      stallMarker: options.stallMarker,
      signal: options.signal,
    });
    attempts.push(result);
    if (result.killed === 'aborted' || result.console.includes(options.stallMarker)) break;
  }
  return attempts;
}

/** The accelerators named by SHOAL_VM_ACCEL (`kvm`, `tcg`), or undefined for the default order. */
export function accelsFromEnv(value = process.env.SHOAL_VM_ACCEL): Accel[] | undefined {
  if (value === 'kvm' || value === 'tcg') return [value];
  return undefined;
}
