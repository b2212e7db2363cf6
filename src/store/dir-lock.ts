/**
 * The state directory's lock: `<dir>/LOCK` holds the owner's pid, so a
 * second daemon on the same directory fails fast instead of interleaving WAL
 * writes. Node has no flock(2), so the lock is a file created exclusively
 * (link(2) of a fully written temporary: it fails with EEXIST like O_EXCL,
 * and the LOCK never exists without its pid), and a LOCK whose pid is dead
 * is stale and taken over.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { UnavailableError } from '../errors';
import { syncDir, TEMP_SUFFIX } from './durable-file';

/** A held directory lock. */
export interface DirLock {
  readonly file: string;
  /** Remove the lock; safe to call twice. */
  release(): Promise<void>;
}

/** Name of the lock file inside the state directory. */
export const LOCK_FILE = 'LOCK';

/** Tries at taking the lock when stale ones keep getting in the way. */
const LOCK_ATTEMPTS = 3;

/**
 * Locks held by this process. A LOCK with our own pid that is not in here was
 * left by an earlier process that had the same pid (pid 1 in a container).
 */
const heldHere = new Set<string>();

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function parsePid(content: Buffer): number | undefined {
  const pid = Number(content.toString('utf8').trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';
  }
}

async function readOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Create LOCK holding our pid; false when a LOCK already exists. */
async function tryCreate(file: string): Promise<boolean> {
  const temp = `${file}.${process.pid}${TEMP_SUFFIX}`;
  const handle = await fsp.open(temp, 'w', 0o600);
  try {
    await handle.writeFile(`${process.pid}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fsp.link(temp, file);
    return true;
  } catch (err) {
    if (errno(err) === 'EEXIST') return false;
    throw err;
  } finally {
    await fsp.rm(temp, { force: true });
  }
}

/**
 * Move a stale LOCK aside, checking that what moved is the LOCK judged stale
 * and not one another process created meanwhile (that one is put back).
 * Returns the pid of such a live owner, if there was one.
 */
async function removeStale(file: string, stale: Buffer): Promise<number | undefined> {
  const aside = `${file}.${process.pid}.stale`;
  try {
    await fsp.rename(file, aside);
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
  const moved = await fsp.readFile(aside);
  if (!moved.equals(stale)) await fsp.link(aside, file).catch(() => undefined);
  await fsp.rm(aside, { force: true });
  return moved.equals(stale) ? undefined : (parsePid(moved) ?? 0);
}

/** Take the state directory's lock; throws UnavailableError when a live process holds it. */
export async function acquireDirLock(dir: string): Promise<DirLock> {
  const file = path.resolve(dir, LOCK_FILE);
  if (heldHere.has(file)) throw new UnavailableError(`store ${dir} is already open in this process`);
  heldHere.add(file);
  try {
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
      if (await tryCreate(file)) {
        await syncDir(path.dirname(file));
        let released = false;
        return {
          file,
          release: async () => {
            if (released) return;
            released = true;
            heldHere.delete(file);
            await fsp.rm(file, { force: true });
          },
        };
      }
      const content = await readOrUndefined(file);
      if (!content) continue;
      const owner = parsePid(content);
      if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
        throw new UnavailableError(`store ${dir} is locked by process ${owner}`);
      }
      const live = await removeStale(file, content);
      if (live !== undefined) throw new UnavailableError(`store ${dir} is locked by process ${live}`);
    }
    throw new UnavailableError(`store ${dir}: could not take ${LOCK_FILE}`);
  } catch (err) {
    heldHere.delete(file);
    throw err;
  }
}
