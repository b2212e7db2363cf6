import { getSystemErrorName } from 'node:util';
import { NetlinkRequestError } from '../../errors';

export { DumpInterruptedError } from '../../errors';

/**
 * The kernel answered a netlink request with an error (NLMSG_ERROR with a
 * negative errno, or an error in NLMSG_DONE). Callers branch on `errno`
 * (`ENOENT`, `EEXIST`, `ESRCH`, `EPERM`), never on the message text. Its code,
 * SHOAL_ERR_NETLINK_REQUEST_FAILED, comes from errors.ts, which owns the registry.
 */
export class NetlinkError extends NetlinkRequestError {
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
