/**
 * Runs the `nft` binary, optionally inside a named network namespace
 * (`ip netns exec NAME nft ...`), with a script on stdin. Shelling out keeps
 * nft's own parser and its readable errors; the whole script is one
 * transaction either way.
 */
import { spawn } from 'node:child_process';
import { CommandFailedError } from '../../../errors';
import { netnsExecArgv } from '../../../net/netns';

/** How long one nft call may take before it is treated as hung and killed. */
export const NFT_COMMAND_TIMEOUT_MS = 10_000;

/** Runs `nft`; injected so tests and callers can wrap or fake it. */
export interface NftRunner {
  /** Runs `nft ...args` with `input` on stdin; resolves stdout, rejects with NftCommandError. */
  run(args: readonly string[], input?: string): Promise<string>;
}

/** nft exited non-zero, could not start, or hung; `stderr` holds nft's own message. */
export class NftCommandError extends CommandFailedError {
  override name = 'NftCommandError';
  constructor(
    message: string,
    /** nft's stderr, trimmed. */
    readonly stderr: string,
    /** errno code when the binary could not be started (ENOENT: not installed). */
    readonly spawnCode?: string,
  ) {
    super(message);
  }
}

/** The real `nft` from PATH, in `netns` when given (the caller's namespace otherwise). */
export function systemNft(netns?: string, timeoutMs = NFT_COMMAND_TIMEOUT_MS): NftRunner {
  return {
    run(args, input) {
      const argv = netns ? netnsExecArgv(netns, ['nft', ...args]) : ['nft', ...args];
      const what = `${netns ? `in ${netns}: ` : ''}nft ${args.join(' ')}`;
      return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        child.stdout.on('data', (d: Buffer) => stdout.push(d));
        child.stderr.on('data', (d: Buffer) => stderr.push(d));
        // An nft that dies before reading all of stdin makes the write fail; its exit status says why.
        child.stdin.on('error', () => undefined);
        child.once('error', (err: NodeJS.ErrnoException) => reject(new NftCommandError(`${what}: ${err.message}`, '', err.code)));
        child.once('close', (code, signal) => {
          const errText = Buffer.concat(stderr).toString().trim();
          if (code === 0) resolve(Buffer.concat(stdout).toString());
          else if (signal) reject(new NftCommandError(`${what}: killed by ${signal} (timeout ${timeoutMs} ms?)`, errText));
          else reject(new NftCommandError(`${what}: ${errText || `exit code ${code}`}`, errText));
        });
        child.stdin.end(input ?? '');
      });
    },
  };
}
