import { getSystemErrorName } from 'node:util';
import { ShoalError } from '../../errors';

/**
 * The kernel answered a netlink request with an error (NLMSG_ERROR with a
 * negative errno, or an error in NLMSG_DONE). Callers branch on `errno`
 * (`ENOENT`, `EEXIST`, `ESRCH`, `EPERM`), never on the message text. Its code
 * stays SHOAL_ERR_INTERNAL: errors.ts owns the registry of codes.
 */
export class NetlinkError extends ShoalError {
  override name = 'NetlinkError';
  /** Positive errno, e.g. 2. */
  readonly errno: number;
  /** Its symbolic name, e.g. `ENOENT`. */
  readonly errnoName: string;

  constructor(what: string, errno: number) {
    const name = errnoName(errno);
    super(`${what}: ${name} (errno ${errno})`);
    this.errno = errno;
    this.errnoName = name;
  }
}

/** A dump the kernel flagged NLM_F_DUMP_INTR: the table changed under it; dumping again will do. */
export class DumpInterruptedError extends ShoalError {
  override name = 'DumpInterruptedError';
  override readonly temporary = true;
}

/** Symbolic name of a positive errno (`ENOENT`), or `errno N` when Node does not know it. */
export function errnoName(errno: number): string {
  let name = '';
  try {
    name = getSystemErrorName(-Math.abs(errno));
  } catch {
    // Node throws for 0 and positive values; fall through to the number.
  }
  return name.startsWith('E') ? name : `errno ${Math.abs(errno)}`;
}
