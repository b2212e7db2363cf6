import * as dgram from 'node:dgram';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError, PortsExhaustedError } from '../../errors';
import { isRecordedProcessAlive, procStat, type PidRecord } from './pid-file';

/**
 * Ports tasks get in loopback mode, where every task shares the host's
 * network: below the kernel's ephemeral range (32768-60999 by default), so an
 * outgoing connection's source port never takes a port a task was promised,
 * as Kubernetes keeps NodePorts at 30000-32767.
 */
export const DEFAULT_TASK_PORT_RANGE: PortRange = { first: 20000, last: 32767 };

/** An inclusive range of port numbers. */
export interface PortRange {
  first: number;
  last: number;
}

/** What one port must be free for: the protocols of the task's target ports that share it. */
export interface PortNeed {
  tcp: boolean;
  udp: boolean;
}

/** Whether a port can be bound on every address for the needed protocols; injected so the choice is testable. */
export type PortProbe = (port: number, need: PortNeed) => Promise<boolean>;

/** Side effects of the reservations. */
export interface HostPortsDeps {
  probe?: PortProbe;
  /** Where the scan of the range starts, 0 <= x < 1; default Math.random (so daemons rarely contend). */
  random?: () => number;
  /** Whether the process that wrote a reservation still runs; default: its pid and start time in /proc. */
  ownerAlive?: (rec: PidRecord) => boolean;
}

/** Where and from which range ports are reserved. */
export interface HostPortsOptions {
  /** Directory shared by every shoal daemon on the host, one file per reserved port. */
  dir: string;
  range?: PortRange;
}

/** Contents of a reservation file: the daemon holding it, and for whom. */
interface ReservationRecord extends PidRecord {
  owner: string;
}

/**
 * Host-wide port reservations for tasks that share the host's network
 * (loopback mode). A port is reserved by creating `<dir>/<port>` exclusively,
 * so two daemons on one host (the three of `shoal up`) starting tasks at the
 * same moment never hand out the same port; then it is probed free on every
 * address, so an app that binds `0.0.0.0` or `::` at its `PORT` cannot clash
 * with another listener. A reservation whose daemon died is taken over.
 */
export class HostPortReservations {
  private readonly dir: string;
  private readonly range: PortRange;
  private readonly probe: PortProbe;
  private readonly random: () => number;
  private readonly ownerAlive: (rec: PidRecord) => boolean;
  private readonly held = new Map<string, number[]>();
  private readonly self: PidRecord;

  constructor(deps: HostPortsDeps, options: HostPortsOptions) {
    this.dir = options.dir;
    this.range = options.range ?? DEFAULT_TASK_PORT_RANGE;
    this.probe = deps.probe ?? probeHostPort;
    this.random = deps.random ?? Math.random;
    this.ownerAlive = deps.ownerAlive ?? isRecordedProcessAlive;
    this.self = { pid: process.pid, startTime: procStat(process.pid)?.startTime ?? null };
  }

  /** Reserves one port per need for `owner` (a task id); all or none. Throws PortsExhaustedError when the range is full. */
  async reserve(owner: string, needs: PortNeed[]): Promise<number[]> {
    if (needs.length === 0) return [];
    await fs.mkdir(this.dir, { recursive: true });
    const size = this.range.last - this.range.first + 1;
    const start = Math.floor(this.random() * size) % size;
    const got: number[] = [];
    try {
      for (let i = 0; i < size && got.length < needs.length; i++) {
        const port = this.range.first + ((start + i) % size);
        if (!(await this.claim(port, owner))) continue;
        if (await this.probe(port, needs[got.length])) got.push(port);
        else await this.unclaim(port);
      }
    } catch (err) {
      await Promise.all(got.map((p) => this.unclaim(p)));
      throw err;
    }
    if (got.length < needs.length) {
      await Promise.all(got.map((p) => this.unclaim(p)));
      throw new PortsExhaustedError(`no free task port in ${this.range.first}-${this.range.last} on this host (${needs.length} needed)`);
    }
    this.held.set(owner, [...(this.held.get(owner) ?? []), ...got]);
    return got;
  }

  /** Gives back every port reserved for `owner`; never throws. */
  async release(owner: string): Promise<void> {
    const ports = this.held.get(owner) ?? [];
    this.held.delete(owner);
    await Promise.all(ports.map((p) => this.unclaim(p)));
  }

  /** Ports held for `owner`, for tests and logs. */
  heldBy(owner: string): number[] {
    return [...(this.held.get(owner) ?? [])];
  }

  /** Creates the reservation file; false when another live daemon holds the port. */
  private async claim(port: number, owner: string): Promise<boolean> {
    const file = path.join(this.dir, String(port));
    const record: ReservationRecord = { ...this.self, owner };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.writeFile(file, JSON.stringify(record) + '\n', { flag: 'wx' });
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const existing = await readReservation(file);
      // A file still being written reads as null: someone is claiming it right now.
      if (existing === null || this.isMine(existing) || this.ownerAlive(existing)) return false;
      // Its daemon is gone: the port is free again. Another daemon may race us to it; exclusive create decides.
      await fs.rm(file, { force: true });
    }
    return false;
  }

  private async unclaim(port: number): Promise<void> {
    await fs.rm(path.join(this.dir, String(port)), { force: true }).catch(() => undefined);
  }

  private isMine(rec: PidRecord): boolean {
    return rec.pid === this.self.pid && rec.startTime === this.self.startTime;
  }
}

async function readReservation(file: string): Promise<ReservationRecord | null> {
  try {
    const rec = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<ReservationRecord>;
    if (!Number.isInteger(rec.pid)) return null;
    return { pid: rec.pid!, startTime: typeof rec.startTime === 'number' ? rec.startTime : null, owner: String(rec.owner ?? '') };
  } catch {
    return null;
  }
}

/**
 * The directory every daemon of this user on the host shares: /run/shoal/ports
 * for root (tmpfs, gone at reboot with the processes it describes), else one
 * under the temp dir.
 */
export function defaultPortLockDir(): string {
  const uid = process.getuid?.() ?? 0;
  return uid === 0 ? '/run/shoal/ports' : path.join(os.tmpdir(), `shoal-ports-${uid}`);
}

/** Parses `20000-32767` (the daemon's --task-port-range). */
export function parsePortRange(text: string): PortRange {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  const first = m ? Number(m[1]) : NaN;
  const last = m ? Number(m[2]) : NaN;
  if (!m || first < 1 || last > 65535 || first > last) {
    throw new InvalidArgumentError(`invalid port range "${text}": use FIRST-LAST within 1-65535, e.g. 20000-32767`);
  }
  return { first, last };
}

/**
 * Whether `port` can be bound on every address: a dual-stack `::` socket
 * (which also covers 0.0.0.0) for each needed protocol, or 0.0.0.0 on a host
 * without IPv6. Any listener on the port, on any address, makes it fail, which
 * is exactly what an app binding every address would run into.
 */
export async function probeHostPort(port: number, need: PortNeed): Promise<boolean> {
  for (const host of ['::', '0.0.0.0']) {
    const r = await probeOn(host, port, need);
    if (r !== 'no-family') return r === 'free';
  }
  return false;
}

type ProbeResult = 'free' | 'taken' | 'no-family';

async function probeOn(host: string, port: number, need: PortNeed): Promise<ProbeResult> {
  const closers: (() => Promise<void>)[] = [];
  try {
    if (need.tcp) {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port, exclusive: true, ipv6Only: false }, resolve);
      });
      closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    }
    if (need.udp) {
      const socket = dgram.createSocket({ type: host === '::' ? 'udp6' : 'udp4', ipv6Only: false });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ address: host, port, exclusive: true }, resolve);
      });
      closers.push(() => new Promise((resolve) => socket.close(() => resolve())));
    }
    return 'free';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL' ? 'no-family' : 'taken';
  } finally {
    await Promise.all(closers.map((c) => c()));
  }
}
