/** Named network namespaces (the ones `ip netns` keeps under /run/netns). */
import type { IpRunner } from './ip-command';

/** Parses `ip netns list` output (`name (id: 3)` or `name` per line) into names. */
export function parseNetnsList(out: string): string[] {
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n !== '');
}

/** Parses `ip netns pids` output into process ids. */
export function parsePids(out: string): number[] {
  return out.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number);
}

/** Names of every named namespace on this machine. */
export async function listNetns(ip: IpRunner): Promise<string[]> {
  return parseNetnsList(await ip.run(['netns', 'list']));
}

/** Creates a named namespace with its loopback up, as every real host has. */
export async function addNetns(ip: IpRunner, name: string): Promise<void> {
  await ip.run(['netns', 'add', name]);
  await ip.run(['-n', name, 'link', 'set', 'lo', 'up']);
}

/** argv that runs `argv` inside a namespace; `ip netns exec` execs it, so the pid is the command's. */
export function netnsExecArgv(netns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', netns, ...argv];
}
