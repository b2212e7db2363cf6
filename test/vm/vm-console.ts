/**
 * The protocol between the program in the VM and the test on the host: lines
 * on the serial console that start with a marker. The VM writes them with
 * the line builders; the host reads the whole console with parseVmConsole,
 * ignoring kernel messages and anything else around them.
 */

/** Prefix of every line meant for the host. */
export const VM_MARKER = '@@SHOAL-VM';

/** Opens a block of raw text (command output) named `name`. */
export function beginLine(name: string): string {
  return `${VM_MARKER} begin ${name}`;
}

/** Closes the block `name`. */
export function endLine(name: string): string {
  return `${VM_MARKER} end ${name}`;
}

/** One JSON value named `name`, on one line. */
export function jsonLine(name: string, value: unknown): string {
  return `${VM_MARKER} json ${name} ${JSON.stringify(value)}`;
}

/** A failure inside the VM, on one line. */
export function errorLine(message: string): string {
  return `${VM_MARKER} error ${message.replace(/\s+/g, ' ')}`;
}

/** What the VM reported. */
export interface VmTranscript {
  blocks: Map<string, string>;
  json: Map<string, unknown>;
  errors: string[];
  /** The in-VM program's exit status, as /init echoed it; undefined when it never got there. */
  exitCode: number | undefined;
}

/** Read the marker lines out of a console capture (CRLF line ends, escape sequences and kernel lines included). */
export function parseVmConsole(text: string): VmTranscript {
  const out: VmTranscript = { blocks: new Map(), json: new Map(), errors: [], exitCode: undefined };
  const lines = text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split(/\r?\n|\r/);
  let open: { name: string; lines: string[] } | undefined;
  for (const line of lines) {
    const at = line.indexOf(VM_MARKER);
    if (at < 0) {
      open?.lines.push(line.trimEnd());
      continue;
    }
    const [kind, name, ...rest] = line.slice(at + VM_MARKER.length).trim().split(' ');
    const payload = rest.join(' ');
    switch (kind) {
      case 'begin':
        open = { name, lines: [] };
        break;
      case 'end':
        if (open && open.name === name) out.blocks.set(name, open.lines.join('\n'));
        open = undefined;
        break;
      case 'json':
        try {
          out.json.set(name, JSON.parse(payload));
        } catch {
          out.errors.push(`unreadable JSON for ${name}: ${payload}`);
        }
        break;
      case 'error':
        out.errors.push([name, payload].filter(Boolean).join(' '));
        break;
      case 'exit':
        out.exitCode = Number(name);
        break;
    }
  }
  return out;
}
