/**
 * Every IPVS generic netlink message shoal sends, and parsers for what the
 * kernel sends back, following include/uapi/linux/ip_vs.h and the attribute
 * policies of net/netfilter/ipvs/ip_vs_ctl.c. Pure: requests are GenlRequest
 * values a transport frames and sends. FLUSH is deliberately absent: shoal
 * never removes what it did not create.
 */
import { NetlinkMalformedError } from '../../../errors';
import {
  attributeMap,
  be16Attr,
  bytesAttr,
  encodeAttributes,
  nestedAttr,
  readBe16,
  readS32,
  readString,
  readU16,
  readU32,
  stringAttr,
  u16Attr,
  u32Attr,
} from '../../../net/genl/netlink-attribute';
import type { NetlinkAttribute } from '../../../net/genl/netlink-attribute';
import type { GenlMessage, GenlRequest } from '../../../net/genl/genl-message';
import { inetAddrBytes, inetAddrText } from './ip-address-bytes';
import type { IpvsDest, IpvsDestEntry, IpvsDestId, IpvsService, IpvsServiceId } from './ipvs-types';
import { IPVS_CMD, IPVS_CMD_ATTR, IPVS_DEST_ATTR, IPVS_GENL_VERSION, IPVS_INFO_ATTR, IPVS_SVC_ATTR } from './ipvs-uapi';

/** Mask sent with service flags: every flag is set to what shoal asks (the kernel adds HASHED itself). */
export const SERVICE_FLAGS_MASK = 0xffffffff;

/** IPVS_CMD_NEW_SERVICE: create a virtual service. */
export function newServiceRequest(family: number, svc: IpvsService): GenlRequest {
  return doRequest(family, IPVS_CMD.NEW_SERVICE, [nestedAttr(IPVS_CMD_ATTR.SERVICE, fullServiceAttrs(svc))]);
}

/** IPVS_CMD_SET_SERVICE: change scheduler, flags or persistence of an existing service. */
export function setServiceRequest(family: number, svc: IpvsService): GenlRequest {
  return doRequest(family, IPVS_CMD.SET_SERVICE, [nestedAttr(IPVS_CMD_ATTR.SERVICE, fullServiceAttrs(svc))]);
}

/** IPVS_CMD_DEL_SERVICE: remove a service and its destinations. */
export function delServiceRequest(family: number, id: IpvsServiceId): GenlRequest {
  return doRequest(family, IPVS_CMD.DEL_SERVICE, [nestedAttr(IPVS_CMD_ATTR.SERVICE, serviceIdAttrs(id))]);
}

/** IPVS_CMD_GET_SERVICE as a dump: every service in this network namespace. */
export function getServicesRequest(family: number): GenlRequest {
  return { family, cmd: IPVS_CMD.GET_SERVICE, version: IPVS_GENL_VERSION, kind: 'dump', attrs: Buffer.alloc(0) };
}

/** IPVS_CMD_NEW_DEST: add a destination to a service. */
export function newDestRequest(family: number, svc: IpvsServiceId, dest: IpvsDest): GenlRequest {
  return doRequest(family, IPVS_CMD.NEW_DEST, [
    nestedAttr(IPVS_CMD_ATTR.SERVICE, serviceIdAttrs(svc)),
    nestedAttr(IPVS_CMD_ATTR.DEST, fullDestAttrs(dest)),
  ]);
}

/** IPVS_CMD_SET_DEST: change a destination's weight, thresholds or forwarding method. */
export function setDestRequest(family: number, svc: IpvsServiceId, dest: IpvsDest): GenlRequest {
  return doRequest(family, IPVS_CMD.SET_DEST, [
    nestedAttr(IPVS_CMD_ATTR.SERVICE, serviceIdAttrs(svc)),
    nestedAttr(IPVS_CMD_ATTR.DEST, fullDestAttrs(dest)),
  ]);
}

/** IPVS_CMD_DEL_DEST: remove a destination (its connections die with it; drain first). */
export function delDestRequest(family: number, svc: IpvsServiceId, dest: IpvsDestId): GenlRequest {
  return doRequest(family, IPVS_CMD.DEL_DEST, [nestedAttr(IPVS_CMD_ATTR.SERVICE, serviceIdAttrs(svc)), nestedAttr(IPVS_CMD_ATTR.DEST, destIdAttrs(dest))]);
}

/** IPVS_CMD_GET_DEST as a dump: the destinations of one service. */
export function getDestsRequest(family: number, svc: IpvsServiceId): GenlRequest {
  return {
    family,
    cmd: IPVS_CMD.GET_DEST,
    version: IPVS_GENL_VERSION,
    kind: 'dump',
    attrs: encodeAttributes([nestedAttr(IPVS_CMD_ATTR.SERVICE, serviceIdAttrs(svc))]),
  };
}

/** IPVS_CMD_GET_INFO: version and connection table size; the probe's proof that IPVS answers. */
export function getInfoRequest(family: number): GenlRequest {
  return doRequest(family, IPVS_CMD.GET_INFO, []);
}

/** IPVS as the GET_INFO reply describes it. */
export interface IpvsInfo {
  /** e.g. `1.2.1`, from IP_VS_VERSION_CODE. */
  version: string;
  connTableSize: number;
}

/** Read the GET_INFO reply (command SET_INFO). */
export function parseInfo(msg: GenlMessage): IpvsInfo {
  const a = attributeMap(msg.attrs);
  const v = readU32(a.get(IPVS_INFO_ATTR.VERSION)) ?? 0;
  return { version: `${(v >> 16) & 0xff}.${(v >> 8) & 0xff}.${v & 0xff}`, connTableSize: readU32(a.get(IPVS_INFO_ATTR.CONN_TAB_SIZE)) ?? 0 };
}

/** Read one part of a GET_SERVICE dump (the kernel sends them as NEW_SERVICE). */
export function parseServiceMessage(msg: GenlMessage): IpvsService {
  const nested = attributeMap(msg.attrs).get(IPVS_CMD_ATTR.SERVICE);
  if (!nested) throw new NetlinkMalformedError('IPVS service message without IPVS_CMD_ATTR_SERVICE');
  const a = attributeMap(nested);
  const af = readU16(a.get(IPVS_SVC_ATTR.AF));
  if (af == null) throw new NetlinkMalformedError('IPVS service without address family');
  const fwmark = readU32(a.get(IPVS_SVC_ATTR.FWMARK)) ?? 0;
  const flags = a.get(IPVS_SVC_ATTR.FLAGS);
  const id: IpvsServiceId =
    fwmark !== 0
      ? { af, protocol: 0, address: '', port: 0, fwmark }
      : {
          af,
          protocol: readU16(a.get(IPVS_SVC_ATTR.PROTOCOL)) ?? 0,
          address: inetAddrText(af, required(a.get(IPVS_SVC_ATTR.ADDR), 'service address')),
          port: readBe16(a.get(IPVS_SVC_ATTR.PORT)) ?? 0,
          fwmark: 0,
        };
  return {
    ...id,
    scheduler: readString(a.get(IPVS_SVC_ATTR.SCHED_NAME)) ?? '',
    flags: flags && flags.length >= 4 ? flags.readUInt32LE(0) : 0,
    timeout: readU32(a.get(IPVS_SVC_ATTR.TIMEOUT)) ?? 0,
    netmask: readU32(a.get(IPVS_SVC_ATTR.NETMASK)) ?? 0,
  };
}

/** Read one part of a GET_DEST dump (sent as NEW_DEST); `serviceAf` when the kernel predates ADDR_FAMILY. */
export function parseDestMessage(msg: GenlMessage, serviceAf: number): IpvsDestEntry {
  const nested = attributeMap(msg.attrs).get(IPVS_CMD_ATTR.DEST);
  if (!nested) throw new NetlinkMalformedError('IPVS destination message without IPVS_CMD_ATTR_DEST');
  const a = attributeMap(nested);
  const af = readU16(a.get(IPVS_DEST_ATTR.ADDR_FAMILY)) ?? serviceAf;
  return {
    af,
    address: inetAddrText(af, required(a.get(IPVS_DEST_ATTR.ADDR), 'destination address')),
    port: readBe16(a.get(IPVS_DEST_ATTR.PORT)) ?? 0,
    fwdMethod: readU32(a.get(IPVS_DEST_ATTR.FWD_METHOD)) ?? 0,
    weight: readS32(a.get(IPVS_DEST_ATTR.WEIGHT)) ?? 0,
    upperThreshold: readU32(a.get(IPVS_DEST_ATTR.U_THRESH)) ?? 0,
    lowerThreshold: readU32(a.get(IPVS_DEST_ATTR.L_THRESH)) ?? 0,
    activeConns: readU32(a.get(IPVS_DEST_ATTR.ACTIVE_CONNS)) ?? 0,
    inactiveConns: readU32(a.get(IPVS_DEST_ATTR.INACT_CONNS)) ?? 0,
    persistConns: readU32(a.get(IPVS_DEST_ATTR.PERSIST_CONNS)) ?? 0,
  };
}

/**
 * The attributes of a service in a dump reply, laid out as the kernel's
 * ip_vs_genl_fill_service does (stats omitted). For fakes that play the
 * kernel and for parser round trips.
 */
export function serviceReplyAttrs(svc: IpvsService): Buffer {
  const attrs: NetlinkAttribute[] = [u16Attr(IPVS_SVC_ATTR.AF, svc.af)];
  if (svc.fwmark !== 0) attrs.push(u32Attr(IPVS_SVC_ATTR.FWMARK, svc.fwmark));
  else attrs.push(u16Attr(IPVS_SVC_ATTR.PROTOCOL, svc.protocol), bytesAttr(IPVS_SVC_ATTR.ADDR, inetAddrBytes(svc.af, svc.address)), be16Attr(IPVS_SVC_ATTR.PORT, svc.port));
  attrs.push(
    stringAttr(IPVS_SVC_ATTR.SCHED_NAME, svc.scheduler),
    bytesAttr(IPVS_SVC_ATTR.FLAGS, flagsBytes(svc.flags, SERVICE_FLAGS_MASK)),
    u32Attr(IPVS_SVC_ATTR.TIMEOUT, svc.timeout),
    u32Attr(IPVS_SVC_ATTR.NETMASK, svc.netmask),
  );
  return encodeAttributes([nestedAttr(IPVS_CMD_ATTR.SERVICE, attrs)]);
}

/** The attributes of a destination in a dump reply, as ip_vs_genl_fill_dest lays them out (stats omitted). */
export function destReplyAttrs(d: IpvsDestEntry): Buffer {
  return encodeAttributes([
    nestedAttr(IPVS_CMD_ATTR.DEST, [
      bytesAttr(IPVS_DEST_ATTR.ADDR, inetAddrBytes(d.af, d.address)),
      be16Attr(IPVS_DEST_ATTR.PORT, d.port),
      u32Attr(IPVS_DEST_ATTR.FWD_METHOD, d.fwdMethod),
      u32Attr(IPVS_DEST_ATTR.WEIGHT, d.weight),
      u32Attr(IPVS_DEST_ATTR.U_THRESH, d.upperThreshold),
      u32Attr(IPVS_DEST_ATTR.L_THRESH, d.lowerThreshold),
      u32Attr(IPVS_DEST_ATTR.ACTIVE_CONNS, d.activeConns),
      u32Attr(IPVS_DEST_ATTR.INACT_CONNS, d.inactiveConns),
      u32Attr(IPVS_DEST_ATTR.PERSIST_CONNS, d.persistConns),
      u16Attr(IPVS_DEST_ATTR.ADDR_FAMILY, d.af),
    ]),
  ]);
}

/** The attributes of a GET_INFO reply; for fakes. */
export function infoReplyAttrs(versionCode: number, connTableSize: number): Buffer {
  return encodeAttributes([u32Attr(IPVS_INFO_ATTR.VERSION, versionCode), u32Attr(IPVS_INFO_ATTR.CONN_TAB_SIZE, connTableSize)]);
}

function doRequest(family: number, cmd: number, attrs: NetlinkAttribute[]): GenlRequest {
  return { family, cmd, version: IPVS_GENL_VERSION, kind: 'do', attrs: encodeAttributes(attrs) };
}

/** What identifies a service: AF plus FWMARK, or AF, PROTOCOL, ADDR, PORT (ip_vs_genl_parse_service). */
function serviceIdAttrs(id: IpvsServiceId): NetlinkAttribute[] {
  if (id.fwmark !== 0) return [u16Attr(IPVS_SVC_ATTR.AF, id.af), u32Attr(IPVS_SVC_ATTR.FWMARK, id.fwmark)];
  return [
    u16Attr(IPVS_SVC_ATTR.AF, id.af),
    u16Attr(IPVS_SVC_ATTR.PROTOCOL, id.protocol),
    bytesAttr(IPVS_SVC_ATTR.ADDR, inetAddrBytes(id.af, id.address)),
    be16Attr(IPVS_SVC_ATTR.PORT, id.port),
  ];
}

/** A full service entry: the kernel rejects NEW/SET_SERVICE without all four of SCHED_NAME, FLAGS, TIMEOUT, NETMASK. */
function fullServiceAttrs(svc: IpvsService): NetlinkAttribute[] {
  return [
    ...serviceIdAttrs(svc),
    stringAttr(IPVS_SVC_ATTR.SCHED_NAME, svc.scheduler),
    bytesAttr(IPVS_SVC_ATTR.FLAGS, flagsBytes(svc.flags, SERVICE_FLAGS_MASK)),
    u32Attr(IPVS_SVC_ATTR.TIMEOUT, svc.timeout),
    u32Attr(IPVS_SVC_ATTR.NETMASK, svc.netmask),
  ];
}

/** What identifies a destination; ADDR_FAMILY first, as ipvsadm sends it. */
function destIdAttrs(d: IpvsDestId): NetlinkAttribute[] {
  return [u16Attr(IPVS_DEST_ATTR.ADDR_FAMILY, d.af), bytesAttr(IPVS_DEST_ATTR.ADDR, inetAddrBytes(d.af, d.address)), be16Attr(IPVS_DEST_ATTR.PORT, d.port)];
}

/** A full destination entry: the kernel rejects NEW/SET_DEST without FWD_METHOD, WEIGHT, U_THRESH and L_THRESH. */
function fullDestAttrs(d: IpvsDest): NetlinkAttribute[] {
  return [
    ...destIdAttrs(d),
    u32Attr(IPVS_DEST_ATTR.FWD_METHOD, d.fwdMethod),
    u32Attr(IPVS_DEST_ATTR.WEIGHT, d.weight),
    u32Attr(IPVS_DEST_ATTR.U_THRESH, d.upperThreshold),
    u32Attr(IPVS_DEST_ATTR.L_THRESH, d.lowerThreshold),
  ];
}

/** struct ip_vs_flags { __u32 flags; __u32 mask; } in host order. */
function flagsBytes(flags: number, mask: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(flags >>> 0, 0);
  b.writeUInt32LE(mask >>> 0, 4);
  return b;
}

function required(v: Buffer | undefined, what: string): Buffer {
  if (!v) throw new NetlinkMalformedError(`IPVS reply without ${what}`);
  return v;
}
