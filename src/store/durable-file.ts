/**
 * The few file-system steps the store's crash safety rests on: fsync of a
 * directory (so a create, rename or unlink inside it survives power loss) and
 * replacing a file atomically (write a temporary, fsync, rename, fsync the
 * directory), so a reader finds the old file or the whole new one.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/** Suffix of half-written files; recovery deletes them. */
export const TEMP_SUFFIX = '.tmp';

/** Make the directory's entries (creates, renames, unlinks) durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write data to file so that after a crash the file is either absent/old or complete. */
export async function writeFileAtomic(file: string, data: Uint8Array | string, fsync = true): Promise<void> {
  const temp = `${file}.${process.pid}${TEMP_SUFFIX}`;
  const handle = await fsp.open(temp, 'w', 0o600);
  try {
    await handle.writeFile(data);
    if (fsync) await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fsp.rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await fsp.rename(temp, file);
  if (fsync) await syncDir(path.dirname(file));
}
