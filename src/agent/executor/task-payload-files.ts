/**
 * A task's secrets and configs on its node: fetched from the dispatcher
 * just before the task starts (only its own, decrypted), written under a
 * per-task 0700 directory on a tmpfs, so they never touch the disk, and
 * removed as soon as the task ends. Secrets go to `<dir>/secrets/<target>`
 * (SHOAL_SECRETS_DIR), configs to `<dir>/configs/<absolute target>`
 * (SHOAL_CONFIGS_DIR). In netns mode the task's own mount namespace also
 * gets the secrets dir bound at /run/secrets (secretsMountArgv).
 */
import crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { TaskPayloadsRequest, TaskPayloadsResponse } from '../../api/contract';
import { PayloadMountError } from '../../errors';
import type { Task } from '../../model/types';
import { normaliseTarget, SECRETS_MOUNT } from '../../spec/payload';
import type { Argv } from './task-sandbox';

/** statfs f_type of tmpfs (linux/magic.h TMPFS_MAGIC). */
const TMPFS_MAGIC = 0x01021994;
/** Where a memory-backed directory is looked for, in order. */
export const TMPFS_CANDIDATES = ['/dev/shm', '/run'];

/** Asks the manager for a task's payloads. */
export type PayloadFetcher = (req: TaskPayloadsRequest) => Promise<TaskPayloadsResponse>;

/** What a task gets: its env additions and the dir to remove when it ends. */
export interface PreparedPayloads {
  env: Record<string, string>;
  secretsDir?: string;
}

/** Whether a task uses any secret or config. */
export function hasPayloads(task: Task): boolean {
  return (task.spec.secrets?.length ?? 0) + (task.spec.configs?.length ?? 0) > 0;
}

/** The first tmpfs of `candidates`; PayloadMountError if none is. */
export async function findTmpfs(candidates: readonly string[] = TMPFS_CANDIDATES): Promise<string> {
  for (const dir of candidates) {
    try {
      if ((await fs.statfs(dir)).type === TMPFS_MAGIC) return dir;
    } catch {
      // Not there on this host: try the next.
    }
  }
  throw new PayloadMountError(`no tmpfs for secrets (looked at ${candidates.join(', ')}): secrets are never written to disk`);
}

/**
 * argv that binds `secretsDir` at /run/secrets inside the task's mount
 * namespace, then execs `argv`. Only for a task in its own namespace (`ip
 * netns exec` gives it a private mount namespace): the bind is not seen by
 * the host or other tasks.
 */
export function secretsMountArgv(secretsDir: string, argv: Argv): Argv {
  const script = `mkdir -p ${SECRETS_MOUNT} && mount --bind "$0" ${SECRETS_MOUNT} && exec "$@"`;
  return { file: 'sh', args: ['-c', script, secretsDir, argv.file, ...argv.args] };
}

/** Settings of the payload files. */
export interface TaskPayloadFilesOptions {
  /** Node state dir: names this daemon's own root on the tmpfs, so daemons sharing a host keep apart. */
  stateDir: string;
  /** Memory-backed directories to use, first tmpfs wins; default TMPFS_CANDIDATES. */
  tmpfsCandidates?: string[];
}

/** Writes and removes tasks' payload files on this node. */
export class TaskPayloadFiles {
  private root?: Promise<string>;

  constructor(
    private readonly fetch: PayloadFetcher,
    private readonly options: TaskPayloadFilesOptions,
  ) {}

  /** This daemon's directory on the tmpfs, `<tmpfs>/shoal-<hash of state dir>` (not created here). */
  private rootPath(): Promise<string> {
    this.root ??= (async () => {
      const tmpfs = await findTmpfs(this.options.tmpfsCandidates);
      const tag = crypto.createHash('sha256').update(path.resolve(this.options.stateDir)).digest('hex').slice(0, 12);
      return path.join(tmpfs, `shoal-${tag}`);
    })();
    this.root.catch(() => (this.root = undefined));
    return this.root;
  }

  private async taskDir(taskId: string): Promise<string> {
    return path.join(await this.rootPath(), taskId);
  }

  /** Fetch and write the task's files; throws (the task fails) if any cannot be written. */
  async prepare(nodeId: string, task: Task): Promise<PreparedPayloads> {
    const payloads = await this.fetch({ nodeId, taskId: task.id });
    const root = await this.rootPath();
    await fs.mkdir(root, { recursive: true, mode: 0o700 });
    await fs.chmod(root, 0o700);
    const dir = path.join(root, task.id);
    await fs.rm(dir, { recursive: true, force: true });
    await fs.mkdir(dir, { mode: 0o700 });
    const env: Record<string, string> = {};
    const out: PreparedPayloads = { env };
    if (payloads.secrets.length > 0) {
      const secretsDir = path.join(dir, 'secrets');
      await fs.mkdir(secretsDir, { mode: 0o700 });
      for (const s of payloads.secrets) await writeFile(secretsDir, normaliseTarget(s.file.target, 'secret'), s);
      env.SHOAL_SECRETS_DIR = secretsDir;
      out.secretsDir = secretsDir;
    }
    if (payloads.configs.length > 0) {
      const configsDir = path.join(dir, 'configs');
      await fs.mkdir(configsDir, { mode: 0o700 });
      for (const c of payloads.configs) await writeFile(configsDir, normaliseTarget(c.file.target, 'config').slice(1), c);
      env.SHOAL_CONFIGS_DIR = configsDir;
    }
    return out;
  }

  /** Remove the task's files, and this daemon's root once empty; never throws. */
  async release(taskId: string): Promise<void> {
    try {
      await fs.rm(await this.taskDir(taskId), { recursive: true, force: true });
      await fs.rmdir(await this.rootPath()).catch(() => undefined);
    } catch {
      // No tmpfs: nothing was written.
    }
  }

  /** Remove every task's files a previous run of this daemon left (its tasks are gone). */
  async cleanup(): Promise<void> {
    try {
      await fs.rm(await this.rootPath(), { recursive: true, force: true });
    } catch {
      // No tmpfs on this host: no task could have had payload files.
    }
  }
}

/** One file at `rel` under `base` with the reference's mode and owner; the data is written before the mode loosens. */
async function writeFile(base: string, rel: string, p: { data: string; file: { mode: number; uid?: number; gid?: number } }): Promise<void> {
  const file = path.join(base, rel);
  if (!file.startsWith(base + path.sep)) throw new PayloadMountError(`target ${rel} leaves the task's directory`);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  await fs.writeFile(file, Buffer.from(p.data, 'base64'), { mode: 0o600, flag: 'wx' });
  try {
    if (p.file.uid !== undefined || p.file.gid !== undefined) await fs.chown(file, p.file.uid ?? -1, p.file.gid ?? -1);
  } catch (err) {
    throw new PayloadMountError(`cannot give ${rel} to uid ${p.file.uid ?? '-'} gid ${p.file.gid ?? '-'}: ${(err as NodeJS.ErrnoException).code}`);
  }
  await fs.chmod(file, p.file.mode);
}
