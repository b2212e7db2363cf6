/**
 * What a failed cluster test leaves in its output: the warnings and errors
 * each daemon logged, and the lines that say a node or task changed hands,
 * so a failure seen only in CI's output can still be explained.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Info lines worth seeing beside the warnings: leadership, liveness and task ends. */
const NOTABLE = /elected leader|following|node is ready again|re-registered|grace period|task exited|task lost/;
/** Lines kept per log, the last ones. */
const MAX_LINES = 40;

/** Every daemon.log below dir (state dirs nest: node-k/, .shoal/nodes/node-k/). */
export function daemonLogs(dir: string, depth = 4): string[] {
  if (depth < 0 || !existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (name === 'daemon.log') out.push(p);
    else if (statSync(p, { throwIfNoEntry: false })?.isDirectory() && name !== 'tasks') out.push(...daemonLogs(p, depth - 1));
  }
  return out.sort();
}

/** One pino line as `hh:mm:ss.mmm LEVEL msg {rest}`, or undefined when it is not worth showing. */
export function digestLine(line: string): string | undefined {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.trim() ? line.slice(0, 300) : undefined;
  }
  const { level, time, msg, pid: _pid, hostname: _host, ...rest } = j;
  if (typeof level !== 'number' || (level < 40 && !NOTABLE.test(String(msg)))) return undefined;
  const at = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '?';
  const name = level >= 50 ? 'ERROR' : level >= 40 ? 'WARN' : 'INFO';
  return `${at} ${name} ${String(msg)} ${JSON.stringify(rest)}`.slice(0, 300);
}

/** The digest of every daemon log below dir, a block per log headed by its path relative to dir. */
export function digestLogs(dir: string): string[] {
  const out: string[] = [];
  for (const file of daemonLogs(dir)) {
    const lines = readFileSync(file, 'utf8').split('\n').map(digestLine).filter((l): l is string => l !== undefined);
    out.push(`${path.relative(dir, file)}: ${lines.length > MAX_LINES ? `last ${MAX_LINES} of ${lines.length}` : `${lines.length}`} notable lines`);
    out.push(...lines.slice(-MAX_LINES).map((l) => `  ${l}`));
  }
  return out;
}
