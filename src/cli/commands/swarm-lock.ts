/** `shoal swarm unlock` and `shoal swarm unlock-key`: the unlock key of an autolocked swarm. */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../errors';
import { clientFor, type GlobalFlags } from '../context';

/** What `swarm init --autolock` and `unlock-key` print around the key (Docker's wording). */
export function unlockKeyNotice(key: string): string {
  return (
    'To unlock a swarm manager after it restarts, run the `shoal swarm unlock`\n' +
    'command and provide the following key:\n\n' +
    `    ${key}\n\n` +
    'Remember to store this key in a password manager, since without it you\n' +
    'will not be able to restart the manager.\n'
  );
}

/** The key from stdin: piped, or typed at a prompt (not echoed back by us; the terminal may). */
async function readKey(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Enter unlock key: ');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    // At a prompt the first line is the key; no need to wait for end of input.
    if (process.stdin.isTTY && Buffer.concat(chunks).includes(10)) break;
  }
  const key = Buffer.concat(chunks).toString('utf8').split('\n')[0].trim();
  if (!key) throw new InvalidArgumentError('no unlock key given on stdin');
  return key;
}

/** Register `swarm unlock` and `swarm unlock-key` under `swarm`. */
export function registerSwarmLock(swarm: Command, globals: () => GlobalFlags): void {
  swarm
    .command('unlock')
    .description('Unlock a locked manager (reads the unlock key from stdin)')
    .action(async () => {
      const key = await readKey();
      await clientFor(globals()).call('POST', '/v1/swarm/unlock', { key });
    });
  swarm
    .command('unlock-key')
    .description('Print the key that unlocks a manager')
    .option('-q, --quiet', 'Only display the key')
    .action(async (f: { quiet?: boolean }) => {
      const r = await clientFor(globals()).call<{ unlockKey: string }>('GET', '/v1/swarm/unlock-key');
      process.stdout.write(f.quiet ? `${r.unlockKey}\n` : unlockKeyNotice(r.unlockKey));
    });
}
