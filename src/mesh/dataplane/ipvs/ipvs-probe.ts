/**
 * Can this process program IPVS? Asked once at start-up by `--dataplane
 * auto` (pass IPVS over, saying why) and `--dataplane ipvs` (fail with one
 * clear line). Talks to the real kernel unless deps say otherwise.
 */
import { readFile } from 'node:fs/promises';
import { FamilyNotFoundError, resolveFamily } from '../../../net/genl/ctrl-family';
import { GenlSocket } from '../../../net/genl/genl-socket';
import { CAP_NET_ADMIN, hasCapability } from '../../../net/capabilities';
import type { GenlTransport } from '../../../net/genl/genl-transport';
import { getInfoRequest, parseInfo } from './ipvs-messages';
import { IPVS_GENL_NAME, IPVS_GENL_VERSION } from './ipvs-uapi';

/** What the probe found: IPVS usable (its family id and version), or why not. */
export type IpvsProbeResult = { ok: true; familyId: number; version: string } | { ok: false; reason: string };

/** Where the probe looks; defaults are the real kernel and /proc. */
export interface IpvsProbeDeps {
  /** Open a generic netlink transport; closed by the probe. */
  openTransport?: () => GenlTransport;
  /** Text of /proc/self/status (for CapEff). */
  readProcStatus?: () => Promise<string>;
}


/** Reason given when the kernel has no IPVS family. */
export const IPVS_NOT_FOUND_REASON = `generic netlink family ${IPVS_GENL_NAME} not found (kernel without ip_vs; modprobe ip_vs)`;

/**
 * Resolve the IPVS family (the kernel loads ip_vs on demand when it can),
 * check CAP_NET_ADMIN, then ask IPVS for its version: every IPVS command
 * needs CAP_NET_ADMIN, so an answer proves shoal may program it.
 */
export async function probeIpvs(deps: IpvsProbeDeps = {}): Promise<IpvsProbeResult> {
  let transport: GenlTransport;
  try {
    transport = (deps.openTransport ?? (() => new GenlSocket()))();
  } catch (err) {
    return { ok: false, reason: `cannot open a generic netlink socket (${messageOf(err)})` };
  }
  try {
    let familyId: number;
    try {
      const family = await resolveFamily(transport, IPVS_GENL_NAME);
      if (family.version < IPVS_GENL_VERSION) {
        return { ok: false, reason: `IPVS generic netlink version ${family.version}, shoal needs ${IPVS_GENL_VERSION}` };
      }
      familyId = family.id;
    } catch (err) {
      if (err instanceof FamilyNotFoundError) return { ok: false, reason: IPVS_NOT_FOUND_REASON };
      return { ok: false, reason: `cannot resolve generic netlink family ${IPVS_GENL_NAME} (${messageOf(err)})` };
    }
    const status = await (deps.readProcStatus ?? (() => readFile('/proc/self/status', 'utf8')))().catch(() => '');
    if (!hasCapability(status, CAP_NET_ADMIN)) {
      return { ok: false, reason: 'CAP_NET_ADMIN missing (run shoal as root or grant it cap_net_admin)' };
    }
    try {
      const [reply] = await transport.request(getInfoRequest(familyId), 'IPVS GET_INFO');
      return { ok: true, familyId, version: reply ? parseInfo(reply).version : 'unknown' };
    } catch (err) {
      return { ok: false, reason: `IPVS does not answer (${messageOf(err)})` };
    }
  } finally {
    transport.close();
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
