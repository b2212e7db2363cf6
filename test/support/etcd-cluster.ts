/**
 * A real etcd cluster for tests: 1 or 3 members of the system's etcd on
 * 127.0.0.1 with free client and peer ports, data in a temp dir. Members can
 * be killed and restarted; stop() SIGTERMs what runs and removes the dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { eventually } from './eventually';
import { freePort } from './free-port';

/** How long a fresh cluster may take to elect a leader. */
const START_TIMEOUT_MS = 30_000;
/** How long a member has to exit after SIGTERM before it is SIGKILLed. */
const STOP_GRACE_MS = 5_000;
/** Short raft timings so leader loss and election take a fraction of a second. */
const HEARTBEAT_MS = 50;
const ELECTION_TIMEOUT_MS = 500;
/** Lines of a member's stderr kept to explain a failed start. */
const STDERR_LINES = 20;
/** A health probe that does not answer in this long counts as unhealthy. */
const HEALTH_PROBE_MS = 1_000;

/** One member: its ports, its process while it runs. */
interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  child: ChildProcess | undefined;
  stderr: string[];
}

/** A running etcd cluster of the system's etcd binary. */
export class EtcdCluster {
  private constructor(
    private readonly dir: string,
    private readonly members: Member[],
    private readonly token: string,
  ) {}

  /** Start `size` members and wait until every one reports healthy (a leader is elected). */
  static async start(size: 1 | 3): Promise<EtcdCluster> {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'shoal-etcd-'));
    const members: Member[] = [];
    for (let i = 0; i < size; i++) {
      members.push({ name: `m${i}`, clientPort: await freePort('tcp'), peerPort: await freePort('tcp'), dataDir: path.join(dir, `m${i}`), child: undefined, stderr: [] });
    }
    const cluster = new EtcdCluster(dir, members, path.basename(dir));
    try {
      for (let i = 0; i < size; i++) cluster.spawn(i);
      await cluster.waitHealthy();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** The store's address of the whole cluster: `etcd://127.0.0.1:p0,...`. */
  /** Where the members keep their data, for tests that search the raw files. */
  get dataRoot(): string {
    return this.dir;
  }

  get url(): string {
    return `etcd://${this.members.map((m) => `127.0.0.1:${m.clientPort}`).join(',')}`;
  }

  /** One member's address, for a client that must talk to that member only. */
  memberUrl(i: number): string {
    return `etcd://127.0.0.1:${this.members[i].clientPort}`;
  }

  /** etcd3 `hosts` of every member. */
  get hosts(): string[] {
    return this.members.map((m) => `http://127.0.0.1:${m.clientPort}`);
  }

  /** Kill a member (SIGKILL by default) and wait until it is gone. */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.members[i].child;
    this.members[i].child = undefined;
    if (child) await exited(child, signal);
  }

  /** Start a killed member again on its data dir; it rejoins by itself. */
  restart(i: number): void {
    if (!this.members[i].child) this.spawn(i);
  }

  /** Wait until the running members (or `which`) all answer /health with a leader. */
  async waitHealthy(which: number[] = this.members.flatMap((m, i) => (m.child ? [i] : []))): Promise<void> {
    await eventually(async () => (await Promise.all(which.map((i) => this.healthy(i)))).every(Boolean), `etcd members ${which.join(', ')} healthy`, {
      timeoutMs: START_TIMEOUT_MS,
      pollMs: 100,
    }).catch((err: Error) => {
      const logs = which.map((i) => `${this.members[i].name}: ${this.members[i].stderr.join('\n')}`).join('\n');
      throw new Error(`${err.message}\n${logs}`);
    });
  }

  /** The index of the member that is raft leader now (asked of the running members through etcd's JSON gateway). */
  async leader(): Promise<number> {
    for (const [i, m] of this.members.entries()) {
      if (!m.child) continue;
      try {
        const res = await fetch(`http://127.0.0.1:${m.clientPort}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(HEALTH_PROBE_MS) });
        const status = (await res.json()) as { header?: { member_id?: string }; leader?: string };
        if (status.leader !== undefined && status.leader === status.header?.member_id) return i;
      } catch {
        // this member does not answer; ask the next
      }
    }
    throw new Error('no running etcd member is the leader');
  }

  /** SIGTERM every member, SIGKILL what does not exit in time, remove the data. Safe twice. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i, 'SIGTERM')));
    await fsp.rm(this.dir, { recursive: true, force: true });
  }

  private async healthy(i: number): Promise<boolean> {
    if (!this.members[i].child) return false;
    try {
      const res = await fetch(`http://127.0.0.1:${this.members[i].clientPort}/health`, { signal: AbortSignal.timeout(HEALTH_PROBE_MS) });
      return ((await res.json()) as { health?: string }).health === 'true';
    } catch {
      return false;
    }
  }

  private spawn(i: number): void {
    const m = this.members[i];
    const peers = this.members.map((p) => `${p.name}=http://127.0.0.1:${p.peerPort}`).join(',');
    const client = `http://127.0.0.1:${m.clientPort}`;
    const peer = `http://127.0.0.1:${m.peerPort}`;
    const child = spawn(
      'etcd',
      [
        ...['--name', m.name, '--data-dir', m.dataDir],
        ...['--listen-client-urls', client, '--advertise-client-urls', client],
        ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer],
        ...['--initial-cluster', peers, '--initial-cluster-state', 'new', '--initial-cluster-token', this.token],
        ...['--heartbeat-interval', String(HEARTBEAT_MS), '--election-timeout', String(ELECTION_TIMEOUT_MS)],
        ...['--logger', 'zap', '--log-level', 'error'],
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      m.stderr.push(...chunk.trimEnd().split('\n'));
      m.stderr.splice(0, Math.max(0, m.stderr.length - STDERR_LINES));
    });
    child.on('error', (err) => m.stderr.push(`spawn failed: ${err.message}`));
    m.child = child;
  }
}

/** Signal a child and resolve once it exited; SIGKILL after the grace if SIGTERM is not enough. */
function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
