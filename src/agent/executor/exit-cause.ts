/**
 * Which output line explains why a task died, for its failed status
 * (`task: non-zero exit (1): Error: listen EADDRINUSE ...`). Pure: the
 * executor keeps the last lines of each stream and asks here.
 */

/** Lines kept from the end of each stream to look for the cause in. */
export const CAUSE_WINDOW_LINES = 30;
/** Longest cause put into a status message. */
export const CAUSE_MAX_CHARS = 200;

/**
 * A line that reads as an error: `Error: ...`, `OSError: ...`,
 * `java.lang.IllegalStateException`, nginx's `[emerg]`, `fatal`, Go's `panic:`.
 */
const ERROR_LIKE = /^\s*(\w+)?(Error|Exception)\b|^\s*\w*Error:|\[emerg\]|\bfatal\b|\bpanic\b/i;

/**
 * Error lines that only summarise the ones before them: nginx retries a
 * busy port five times and then says "still could not bind()", which names
 * no cause, while the line before it says which address and why.
 */
const SUMMARY_ONLY = [/\bstill could not bind\(\)/];

// eslint-disable-next-line no-control-regex
const ANSI_ESCAPE = /\x1b\[[0-9;?]*[A-Za-z]/g;

/**
 * The most telling line of what a dead task printed: looking at the last
 * CAUSE_WINDOW_LINES of stderr, the last line that looks like an error, else
 * the last non-empty line; the same on stdout when stderr has nothing.
 * Undefined when both are empty. Trimmed to CAUSE_MAX_CHARS.
 */
export function exitCause(stderr: readonly string[], stdout: readonly string[]): string | undefined {
  const line = mostTelling(stderr) ?? mostTelling(stdout);
  return line === undefined ? undefined : shorten(line);
}

function mostTelling(lines: readonly string[]): string | undefined {
  const window = lines.slice(-CAUSE_WINDOW_LINES).map(clean).filter((l) => l !== '');
  if (window.length === 0) return undefined;
  const errors = window.filter((l) => ERROR_LIKE.test(l));
  const telling = errors.filter((l) => !SUMMARY_ONLY.some((re) => re.test(l)));
  return telling.at(-1) ?? errors.at(-1) ?? window.at(-1);
}

function clean(line: string): string {
  return line.replace(ANSI_ESCAPE, '').replace(/\s+/g, ' ').trim();
}

function shorten(line: string): string {
  return line.length <= CAUSE_MAX_CHARS ? line : `${line.slice(0, CAUSE_MAX_CHARS - 1)}…`;
}
