/**
 * The etcd members of `shoal up --managers N`: one per manager node, on that
 * node's address (client port 2379, peer 2380), data under
 * `<state-dir>/etcd/m<k>` so the next `shoal up` resumes them. Debian's
 * `etcd-server` provides the binary.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { DaemonExitedError, InvalidArgumentError, WaitTimeoutError } from '../errors';

/** etcd's client and peer ports on each member's address. */
const CLIENT_PORT = 2379;
const PEER_PORT = 2380;
/** How long the members get to elect a leader. */
const HEALTHY_TIMEOUT_MS = 30_000;
const PROBE_MS = 1_000;
/** A shoal write of one service's tasks is one transaction: etcd's default 128 operations is too few. */
const MAX_TXN_OPS = 2048;

/** The members of a local etcd cluster. */
export class LocalEtcd {
  private children: ChildProcess[] = [];

  /** `addresses`: one member on each; `dir`: their data and logs. */
  constructor(
    private readonly addresses: string[],
    private readonly dir: string,
  ) {}

  /** `etcd://a1:2379,a2:2379,...` */
  get url(): string {
    return `etcd://${this.addresses.map((a) => `${a}:${CLIENT_PORT}`).join(',')}`;
  }

  /** Start every member (resuming its data) and wait until the cluster answers. */
  async start(): Promise<void> {
    if (spawnSync('etcd', ['--version']).error) {
      throw new InvalidArgumentError('shoal up --managers needs etcd on the PATH (Debian: apt-get install etcd-server)');
    }
    const peers = this.addresses.map((a, i) => `m${i + 1}=http://${a}:${PEER_PORT}`).join(',');
    this.children = this.addresses.map((a, i) => {
      const dataDir = path.join(this.dir, `m${i + 1}`);
      const fresh = !existsSync(dataDir);
      mkdirSync(dataDir, { recursive: true });
      const log = openSync(path.join(this.dir, `m${i + 1}.log`), 'a');
      const child = spawn(
        'etcd',
        [
          '--name', `m${i + 1}`,
          '--data-dir', dataDir,
          '--listen-client-urls', `http://${a}:${CLIENT_PORT}`,
          '--advertise-client-urls', `http://${a}:${CLIENT_PORT}`,
          '--listen-peer-urls', `http://${a}:${PEER_PORT}`,
          '--initial-advertise-peer-urls', `http://${a}:${PEER_PORT}`,
          '--initial-cluster', peers,
          '--initial-cluster-state', fresh ? 'new' : 'existing',
          '--max-txn-ops', String(MAX_TXN_OPS),
        ],
        { stdio: ['ignore', log, log] },
      );
      closeSync(log);
      return child;
    });
    const deadline = Date.now() + HEALTHY_TIMEOUT_MS;
    while (!(await this.healthy())) {
      const dead = this.children.findIndex((c) => c.exitCode !== null || c.signalCode !== null);
      if (dead >= 0) throw new DaemonExitedError(`etcd member m${dead + 1} exited while starting; see ${path.join(this.dir, `m${dead + 1}.log`)}`);
      if (Date.now() > deadline) throw new WaitTimeoutError(`timed out waiting for etcd; see ${this.dir}/m*.log`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Stop every member (SIGTERM; etcd shuts down cleanly). Safe twice. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          }),
      ),
    );
  }

  /** Every member says it is healthy (it has a leader). */
  private async healthy(): Promise<boolean> {
    const answers = await Promise.all(
      this.addresses.map(async (a) => {
        try {
          const res = await fetch(`http://${a}:${CLIENT_PORT}/health`, { signal: AbortSignal.timeout(PROBE_MS) });
          return ((await res.json()) as { health?: string }).health === 'true';
        } catch {
          return false;
        }
      }),
    );
    return answers.every(Boolean);
  }
}
