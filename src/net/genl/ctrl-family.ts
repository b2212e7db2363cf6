/**
 * The generic netlink controller ("nlctrl", include/uapi/linux/genetlink.h):
 * maps family names to the ids requests are addressed to. Pure builders and
 * parsers, plus resolveFamily, which runs them over a transport.
 */
import { NetlinkEncodeError, NetlinkFamilyMissingError, NetlinkMalformedError } from '../../errors';
import { attributeMap, decodeAttributes, encodeAttributes, readString, readU16, readU32, stringAttr } from './netlink-attribute';
import type { GenlMessage, GenlRequest } from './genl-message';
import { NetlinkError } from './netlink-error';
import type { GenlTransport } from './genl-transport';

/** Fixed family id of the controller itself. */
export const GENL_ID_CTRL = 0x10;
/** Version requests to the controller carry (libnl and iproute2 send 1). */
export const CTRL_VERSION = 1;

/** Controller commands. */
export const CTRL_CMD_NEWFAMILY = 1;
export const CTRL_CMD_GETFAMILY = 3;

/** Controller attributes. */
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const CTRL_ATTR_VERSION = 3;
export const CTRL_ATTR_HDRSIZE = 4;
export const CTRL_ATTR_MAXATTR = 5;
export const CTRL_ATTR_OPS = 6;
export const CTRL_ATTR_MCAST_GROUPS = 7;
/** Attributes of one multicast group inside CTRL_ATTR_MCAST_GROUPS. */
export const CTRL_ATTR_MCAST_GRP_NAME = 1;
export const CTRL_ATTR_MCAST_GRP_ID = 2;

/** Longest family name including its NUL (GENL_NAMSIZ). */
export const GENL_NAMSIZ = 16;

/** A generic netlink family as the controller describes it. */
export interface GenlFamily {
  id: number;
  name: string;
  /** The family's interface version (IPVS: 1). */
  version: number;
  hdrSize: number;
  maxAttr: number;
  /** Multicast groups by name. */
  mcastGroups: Record<string, number>;
}

/** The CTRL_CMD_GETFAMILY request for one family by name. */
export function getFamilyRequest(name: string): GenlRequest {
  if (!name || Buffer.byteLength(name) >= GENL_NAMSIZ) throw new NetlinkEncodeError(`invalid generic netlink family name ${JSON.stringify(name)}`);
  return { family: GENL_ID_CTRL, cmd: CTRL_CMD_GETFAMILY, version: CTRL_VERSION, kind: 'do', attrs: encodeAttributes([stringAttr(CTRL_ATTR_FAMILY_NAME, name)]) };
}

/** The CTRL_CMD_GETFAMILY dump of every family. */
export function listFamiliesRequest(): GenlRequest {
  return { family: GENL_ID_CTRL, cmd: CTRL_CMD_GETFAMILY, version: CTRL_VERSION, kind: 'dump', attrs: Buffer.alloc(0) };
}

/** Read a CTRL_CMD_NEWFAMILY reply. */
export function parseFamily(msg: GenlMessage): GenlFamily {
  const a = attributeMap(msg.attrs);
  const id = readU16(a.get(CTRL_ATTR_FAMILY_ID));
  const name = readString(a.get(CTRL_ATTR_FAMILY_NAME));
  if (id == null || name == null) throw new NetlinkMalformedError('controller reply without family id or name');
  const mcastGroups: Record<string, number> = {};
  const groups = a.get(CTRL_ATTR_MCAST_GROUPS);
  // The groups are an array: nested attributes numbered 1..n, each holding name and id.
  for (const g of groups ? decodeAttributes(groups) : []) {
    const ga = attributeMap(g.value);
    const gname = readString(ga.get(CTRL_ATTR_MCAST_GRP_NAME));
    const gid = readU32(ga.get(CTRL_ATTR_MCAST_GRP_ID));
    if (gname != null && gid != null) mcastGroups[gname] = gid;
  }
  return {
    id,
    name,
    version: readU32(a.get(CTRL_ATTR_VERSION)) ?? 0,
    hdrSize: readU32(a.get(CTRL_ATTR_HDRSIZE)) ?? 0,
    maxAttr: readU32(a.get(CTRL_ATTR_MAXATTR)) ?? 0,
    mcastGroups,
  };
}

/** The family `name` is not registered in this kernel (nor could the kernel load a module for it). */
export class FamilyNotFoundError extends NetlinkFamilyMissingError {
  override name = 'FamilyNotFoundError';
  constructor(readonly family: string) {
    super(`generic netlink family ${family} not found`);
  }
}

/**
 * Resolve a family name to its id through the controller. On ENOENT the
 * kernel has already tried `request_module("net-pf-16-proto-16-family-<name>")`,
 * so a missing family really is missing: FamilyNotFoundError.
 */
export async function resolveFamily(transport: GenlTransport, name: string): Promise<GenlFamily> {
  let replies: GenlMessage[];
  try {
    replies = await transport.request(getFamilyRequest(name), `resolve generic netlink family ${name}`);
  } catch (err) {
    if (err instanceof NetlinkError && err.errnoName === 'ENOENT') throw new FamilyNotFoundError(name);
    throw err;
  }
  const reply = replies.find((r) => r.cmd === CTRL_CMD_NEWFAMILY);
  if (!reply) throw new NetlinkMalformedError(`controller sent no family description for ${name}`);
  return parseFamily(reply);
}

/** Every family registered in this kernel. */
export async function listFamilies(transport: GenlTransport): Promise<GenlFamily[]> {
  const replies = await transport.request(listFamiliesRequest(), 'list generic netlink families');
  return replies.filter((r) => r.cmd === CTRL_CMD_NEWFAMILY).map(parseFamily);
}
