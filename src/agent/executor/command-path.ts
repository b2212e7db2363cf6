import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';

/** Where a task's command was found, or why it cannot run. */
export type CommandLookup = { ok: true; path: string } | { ok: false; message: string };

async function isExecutableFile(file: string): Promise<'ok' | 'missing' | 'directory' | 'denied'> {
  try {
    const st = await fs.stat(file);
    if (st.isDirectory()) return 'directory';
    await fs.access(file, constants.X_OK);
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EACCES' ? 'denied' : 'missing';
  }
}

/**
 * Finds the executable of a task's argv[0] the way execvp does (a name with a
 * slash is a path against the task's cwd, a bare name is searched in PATH), so
 * a missing command fails before spawning with a message like Docker's rather
 * than as an exit code from the setpriv wrapper.
 */
export async function lookupCommand(command: string, cwd: string, pathVar: string | undefined): Promise<CommandLookup> {
  if (command === '') return { ok: false, message: 'task: no command given' };
  if (command.includes('/')) {
    const file = path.resolve(cwd, command);
    const found = await isExecutableFile(file);
    if (found === 'ok') return { ok: true, path: file };
    const why = { missing: 'no such file or directory', directory: 'is a directory', denied: 'permission denied' }[found];
    return { ok: false, message: `task: exec: "${command}": ${why}` };
  }
  for (const dir of (pathVar ?? '').split(':')) {
    // An empty PATH entry means the current directory, as in execvp.
    const file = path.resolve(cwd, dir, command);
    if ((await isExecutableFile(file)) === 'ok') return { ok: true, path: file };
  }
  return { ok: false, message: `task: exec: "${command}": executable file not found in $PATH` };
}
