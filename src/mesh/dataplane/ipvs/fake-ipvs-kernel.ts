/**
 * A GenlTransport that plays a kernel with IPVS loaded, for tests of
 * everything above the socket. Requests go through the real framing: each is
 * encoded to bytes (kept in `sent`), decoded again, checked the way
 * ip_vs_ctl.c checks them (full entries, EEXIST, ESRCH, ENOENT), and answered
 * with encoded replies read back through the ReplyAssembler, so the codec is
 * exercised both ways.
 */
import {
  CTRL_ATTR_FAMILY_ID,
  CTRL_ATTR_FAMILY_NAME,
  CTRL_ATTR_HDRSIZE,
  CTRL_ATTR_MAXATTR,
  CTRL_ATTR_VERSION,
  CTRL_CMD_GETFAMILY,
  CTRL_CMD_NEWFAMILY,
  GENL_ID_CTRL,
} from '../../../net/genl/ctrl-family';
import {
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  decodeNetlinkMessages,
  encodeGenlMessage,
  encodeGenlRequest,
  encodeNetlinkMessage,
  toGenlMessage,
} from '../../../net/genl/genl-message';
import type { GenlMessage, GenlRequest } from '../../../net/genl/genl-message';
import type { GenlTransport } from '../../../net/genl/genl-transport';
import { attributeMap, encodeAttributes, readBe16, readString, readU16, readU32, stringAttr, u16Attr, u32Attr } from '../../../net/genl/netlink-attribute';
import { FakeIpvsError, UnavailableError } from '../../../errors';
import { ReplyAssembler } from '../../../net/genl/reply-assembler';
import { inetAddrText } from './ip-address-bytes';
import { destReplyAttrs, infoReplyAttrs, serviceReplyAttrs } from './ipvs-messages';
import type { IpvsDestEntry, IpvsService } from './ipvs-types';
import { destKey, serviceKey } from './ipvs-types';
import { IPVS_CMD, IPVS_CMD_ATTR, IPVS_DEST_ATTR, IPVS_GENL_NAME, IPVS_GENL_VERSION, IPVS_SVC_ATTR, IP_VS_SVC_F_HASHED } from './ipvs-uapi';

/** Family id the fake hands out for IPVS (dynamic ids start at 0x10 + 1; any will do). */
export const FAKE_IPVS_FAMILY_ID = 0x1d;
/** IP_VS_VERSION_CODE the fake reports (1.2.1). */
export const FAKE_IPVS_VERSION_CODE = 0x010201;

/** Schedulers the fake "has modules for". */
const KNOWN_SCHEDULERS = new Set(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos']);

const EINVAL = 22;
const ENOENT = 2;
const ESRCH = 3;
const EEXIST = 17;
const EAFNOSUPPORT = 97;

/** One service in the fake's table with its destinations. */
export interface FakeIpvsEntry {
  service: IpvsService;
  dests: IpvsDestEntry[];
}

/** A command the fake received, decoded, for assertions that read better than bytes. */
export interface FakeIpvsCommand {
  cmd: number;
  service?: string;
  dest?: string;
  weight?: number;
  scheduler?: string;
}

/** Settings of a fake kernel. */
export interface FakeIpvsKernelOptions {
  /** false: the IPVS family is not registered (GETFAMILY answers ENOENT). Default true. */
  ipvsLoaded?: boolean;
}

/** A kernel with IPVS, in memory. */
export class FakeIpvsKernel implements GenlTransport {
  /** Every request as the bytes a socket would have sent. */
  readonly sent: Buffer[] = [];
  /** Every IPVS command, decoded. */
  readonly commands: FakeIpvsCommand[] = [];
  private readonly table = new Map<string, FakeIpvsEntry>();
  private readonly failures = new Map<number, number[]>();
  private ipvsLoaded: boolean;
  private seq = 0;
  private closed = false;

  constructor(options: FakeIpvsKernelOptions = {}) {
    this.ipvsLoaded = options.ipvsLoaded ?? true;
  }

  /** Put a service in the table directly, as another tool (ipvsadm, kube-proxy) would. */
  addService(service: IpvsService, dests: IpvsDestEntry[] = []): void {
    this.table.set(serviceKey(service), { service: { ...service, flags: service.flags | IP_VS_SVC_F_HASHED }, dests: dests.map((d) => ({ ...d })) });
  }

  /** Set the live connection counts of a destination, as traffic would. */
  setConnections(svcKey: string, dKey: string, active: number, inactive: number): void {
    const d = this.table.get(svcKey)?.dests.find((x) => destKey(x) === dKey);
    if (!d) throw new FakeIpvsError(`fake IPVS: no destination ${dKey} in ${svcKey}`);
    d.activeConns = active;
    d.inactiveConns = inactive;
  }

  /** Remove a service behind shoal's back, as an operator with ipvsadm -D would. */
  removeService(svcKey: string): void {
    this.table.delete(svcKey);
  }

  /** The table, sorted by key. */
  entries(): FakeIpvsEntry[] {
    return [...this.table.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => ({ service: { ...e.service }, dests: e.dests.map((d) => ({ ...d })) }));
  }

  /** The entry of one service, if present. */
  entry(svcKey: string): FakeIpvsEntry | undefined {
    return this.entries().find((e) => serviceKey(e.service) === svcKey);
  }

  /** Answer the next `cmd` requests with these errnos, one each. */
  failNext(cmd: number, ...errnos: number[]): void {
    this.failures.set(cmd, [...(this.failures.get(cmd) ?? []), ...errnos]);
  }

  /** Register or unregister the IPVS family (modprobe / rmmod). */
  setIpvsLoaded(loaded: boolean): void {
    this.ipvsLoaded = loaded;
  }

  /** How many requests were sent since the start. */
  get requestCount(): number {
    return this.sent.length;
  }

  async request(req: GenlRequest, what = `genl family ${req.family} cmd ${req.cmd}`): Promise<GenlMessage[]> {
    if (this.closed) throw new UnavailableError(`${what}: netlink socket is closed`);
    const seq = ++this.seq;
    const bytes = encodeGenlRequest(req, seq);
    this.sent.push(bytes);
    // Read the request back from its bytes, as the kernel would.
    const [wire] = decodeNetlinkMessages(bytes);
    const msg = toGenlMessage(wire);
    const answer = this.handle(msg);
    const datagram = Buffer.concat(this.frame(msg, bytes, seq, req.kind, answer));
    await Promise.resolve();
    const assembler = new ReplyAssembler(what, req.kind);
    for (const m of decodeNetlinkMessages(datagram)) {
      const step = assembler.feed(m);
      if (step.state === 'done') return step.replies;
      if (step.state === 'failed') throw step.error;
    }
    throw new FakeIpvsError('fake IPVS: answer did not complete the request');
  }

  close(): void {
    this.closed = true;
  }

  /** The kernel's answer as netlink messages; errors echo the whole request, an ACK only its header (netlink_ack). */
  private frame(msg: GenlMessage, request: Buffer, seq: number, kind: GenlRequest['kind'], answer: Answer): Buffer[] {
    const header = request.subarray(0, 16);
    if (typeof answer === 'number') {
      const payload = Buffer.concat([int32(-answer), request]);
      return [encodeNetlinkMessage({ type: NLMSG_ERROR, flags: 0, seq, pid: 0, payload })];
    }
    const family = msg.family;
    if (kind === 'dump') {
      const parts = answer.map((a) => encodeGenlMessage({ family, flags: NLM_F_MULTI, seq, cmd: a.cmd, version: a.version, attrs: a.attrs }));
      return [...parts, encodeNetlinkMessage({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq, pid: 0, payload: int32(0) })];
    }
    const replies = answer.map((a) => encodeGenlMessage({ family, flags: 0, seq, cmd: a.cmd, version: a.version, attrs: a.attrs }));
    return [...replies, encodeNetlinkMessage({ type: NLMSG_ERROR, flags: 0, seq, pid: 0, payload: Buffer.concat([int32(0), header]) })];
  }

  private handle(msg: GenlMessage): Answer {
    if (msg.family === GENL_ID_CTRL) return this.handleCtrl(msg);
    if (msg.family !== FAKE_IPVS_FAMILY_ID || !this.ipvsLoaded) return ENOENT;
    const top = attributeMap(msg.attrs);
    const svcAttrs = top.get(IPVS_CMD_ATTR.SERVICE);
    const destAttrs = top.get(IPVS_CMD_ATTR.DEST);
    const record: FakeIpvsCommand = { cmd: msg.cmd };
    this.commands.push(record);
    const injected = () => this.failures.get(msg.cmd)?.shift();

    switch (msg.cmd) {
      case IPVS_CMD.GET_INFO:
      case IPVS_CMD.GET_SERVICE:
      case IPVS_CMD.FLUSH: {
        const errno = injected();
        if (errno !== undefined) return errno;
      }
    }
    switch (msg.cmd) {
      case IPVS_CMD.GET_INFO:
        return [{ cmd: IPVS_CMD.SET_INFO, version: IPVS_GENL_VERSION, attrs: infoReplyAttrs(FAKE_IPVS_VERSION_CODE, 4096) }];
      case IPVS_CMD.GET_SERVICE:
        return this.entries().map((e) => ({ cmd: IPVS_CMD.NEW_SERVICE, version: IPVS_GENL_VERSION, attrs: serviceReplyAttrs(e.service) }));
      case IPVS_CMD.FLUSH:
        this.table.clear();
        return [];
    }

    const svc = parseService(svcAttrs, msg.cmd === IPVS_CMD.NEW_SERVICE || msg.cmd === IPVS_CMD.SET_SERVICE);
    if (typeof svc === 'number') return svc;
    const key = serviceKey(svc);
    record.service = key;
    record.scheduler = svc.scheduler || undefined;
    const errno = injected();
    if (errno !== undefined) return errno;
    const existing = this.table.get(key);
    switch (msg.cmd) {
      case IPVS_CMD.NEW_SERVICE:
        if (existing) return EEXIST;
        if (!KNOWN_SCHEDULERS.has(svc.scheduler)) return ENOENT;
        this.table.set(key, { service: { ...svc, flags: svc.flags | IP_VS_SVC_F_HASHED }, dests: [] });
        return [];
      case IPVS_CMD.SET_SERVICE:
        if (!existing) return ESRCH;
        if (!KNOWN_SCHEDULERS.has(svc.scheduler)) return ENOENT;
        existing.service = { ...svc, flags: svc.flags | IP_VS_SVC_F_HASHED };
        return [];
      case IPVS_CMD.DEL_SERVICE:
        if (!existing) return ESRCH;
        this.table.delete(key);
        return [];
      case IPVS_CMD.GET_DEST:
        // ip_vs_genl_dump_dests ends the dump empty when the service is unknown.
        return (existing?.dests ?? []).map((d) => ({ cmd: IPVS_CMD.NEW_DEST, version: IPVS_GENL_VERSION, attrs: destReplyAttrs(d) }));
    }

    if (!existing) return ESRCH;
    const full = msg.cmd === IPVS_CMD.NEW_DEST || msg.cmd === IPVS_CMD.SET_DEST;
    const dest = parseDest(destAttrs, full, svc.af);
    if (typeof dest === 'number') return dest;
    const dk = destKey(dest);
    record.dest = dk;
    const i = existing.dests.findIndex((d) => destKey(d) === dk);
    switch (msg.cmd) {
      case IPVS_CMD.NEW_DEST:
        record.weight = dest.weight;
        if (i >= 0) return EEXIST;
        existing.dests.push(dest);
        return [];
      case IPVS_CMD.SET_DEST:
        record.weight = dest.weight;
        if (i < 0) return ENOENT;
        existing.dests[i] = { ...dest, activeConns: existing.dests[i].activeConns, inactiveConns: existing.dests[i].inactiveConns, persistConns: existing.dests[i].persistConns };
        return [];
      case IPVS_CMD.DEL_DEST:
        if (i < 0) return ENOENT;
        existing.dests.splice(i, 1);
        return [];
    }
    return EINVAL;
  }

  private handleCtrl(msg: GenlMessage): Answer {
    if (msg.cmd !== CTRL_CMD_GETFAMILY) return EINVAL;
    const name = readString(attributeMap(msg.attrs).get(CTRL_ATTR_FAMILY_NAME));
    if (name !== IPVS_GENL_NAME || !this.ipvsLoaded) return ENOENT;
    const attrs = encodeAttributes([
      u16Attr(CTRL_ATTR_FAMILY_ID, FAKE_IPVS_FAMILY_ID),
      stringAttr(CTRL_ATTR_FAMILY_NAME, IPVS_GENL_NAME),
      u32Attr(CTRL_ATTR_VERSION, IPVS_GENL_VERSION),
      u32Attr(CTRL_ATTR_HDRSIZE, 0),
      u32Attr(CTRL_ATTR_MAXATTR, 6),
    ]);
    return [{ cmd: CTRL_CMD_NEWFAMILY, version: 2, attrs }];
  }
}

/** An errno, or the replies (command, version, attributes) to send. */
type Answer = number | { cmd: number; version: number; attrs: Buffer }[];

/** ip_vs_genl_parse_service, in short. */
function parseService(nested: Buffer | undefined, full: boolean): IpvsService | number {
  if (!nested) return EINVAL;
  const a = attributeMap(nested);
  const af = readU16(a.get(IPVS_SVC_ATTR.AF));
  const fwmark = readU32(a.get(IPVS_SVC_ATTR.FWMARK));
  const protocol = readU16(a.get(IPVS_SVC_ATTR.PROTOCOL));
  const addr = a.get(IPVS_SVC_ATTR.ADDR);
  const port = readBe16(a.get(IPVS_SVC_ATTR.PORT));
  if (af == null || !(fwmark != null || (protocol != null && addr && port != null))) return EINVAL;
  if (af !== 2 && af !== 10) return EAFNOSUPPORT;
  if (addr && addr.length > 16) return EINVAL;
  const flags = a.get(IPVS_SVC_ATTR.FLAGS);
  const sched = a.get(IPVS_SVC_ATTR.SCHED_NAME);
  const timeout = readU32(a.get(IPVS_SVC_ATTR.TIMEOUT));
  const netmask = readU32(a.get(IPVS_SVC_ATTR.NETMASK));
  if (full && !(sched && flags && timeout != null && netmask != null)) return EINVAL;
  if (flags && flags.length !== 8) return EINVAL;
  const base = fwmark
    ? { af, protocol: 0, address: '', port: 0, fwmark }
    : { af, protocol: protocol ?? 0, address: inetAddrText(af, padAddr(addr)), port: port ?? 0, fwmark: 0 };
  return {
    ...base,
    scheduler: readString(sched) ?? '',
    flags: flags ? flags.readUInt32LE(0) & flags.readUInt32LE(4) : 0,
    timeout: timeout ?? 0,
    netmask: netmask ?? 0,
  };
}

/** ip_vs_genl_parse_dest, in short. */
function parseDest(nested: Buffer | undefined, full: boolean, serviceAf: number): IpvsDestEntry | number {
  if (!nested) return EINVAL;
  const a = attributeMap(nested);
  const addr = a.get(IPVS_DEST_ATTR.ADDR);
  const port = readBe16(a.get(IPVS_DEST_ATTR.PORT));
  if (!addr || port == null) return EINVAL;
  const fwd = readU32(a.get(IPVS_DEST_ATTR.FWD_METHOD));
  const weight = readU32(a.get(IPVS_DEST_ATTR.WEIGHT));
  const uThresh = readU32(a.get(IPVS_DEST_ATTR.U_THRESH));
  const lThresh = readU32(a.get(IPVS_DEST_ATTR.L_THRESH));
  if (full && (fwd == null || weight == null || uThresh == null || lThresh == null)) return EINVAL;
  const af = readU16(a.get(IPVS_DEST_ATTR.ADDR_FAMILY)) || serviceAf;
  return {
    af,
    address: inetAddrText(af, padAddr(addr)),
    port,
    fwdMethod: (fwd ?? 0) & 0x7,
    weight: weight ?? 0,
    upperThreshold: uThresh ?? 0,
    lowerThreshold: lThresh ?? 0,
    activeConns: 0,
    inactiveConns: 0,
    persistConns: 0,
  };
}

/** nla_memcpy into a zeroed union nf_inet_addr. */
function padAddr(addr: Buffer | undefined): Buffer {
  const out = Buffer.alloc(16);
  addr?.copy(out, 0, 0, Math.min(16, addr.length));
  return out;
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}
