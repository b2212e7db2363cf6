/**
 * Every message shoal sends to IPVS, compared byte for byte with fixtures
 * written by hand from the layouts in include/uapi/linux/netlink.h,
 * genetlink.h and ip_vs.h (not produced by the encoder). Host-order fields
 * are little-endian; ports and addresses are network order.
 */
import t from 'tap';
import { decodeNetlinkMessages, encodeGenlMessage, encodeGenlRequest, toGenlMessage } from '../../../../src/net/genl/genl-message';
import type { GenlMessage, GenlRequest } from '../../../../src/net/genl/genl-message';
import { ReplyAssembler } from '../../../../src/net/genl/reply-assembler';
import {
  delDestRequest,
  delServiceRequest,
  destReplyAttrs,
  getDestsRequest,
  getInfoRequest,
  getServicesRequest,
  infoReplyAttrs,
  newDestRequest,
  newServiceRequest,
  parseDestMessage,
  parseInfo,
  parseServiceMessage,
  serviceReplyAttrs,
  setDestRequest,
  setServiceRequest,
} from '../../../../src/mesh/dataplane/ipvs/ipvs-messages';
import type { IpvsDest, IpvsDestEntry, IpvsService } from '../../../../src/mesh/dataplane/ipvs/ipvs-types';
import { hex, rows } from '../../../net/genl/hex-fixture';

const FAMILY = 0x1d;
const SEQ = 1;

const tcpService: IpvsService = { af: 2, protocol: 6, address: '10.0.0.2', port: 80, fwmark: 0, scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff };
const fwmarkService: IpvsService = { af: 2, protocol: 0, address: '', port: 0, fwmark: 0x53481f90, scheduler: 'sh', flags: 0x8, timeout: 0, netmask: 0xffffffff };
const dest: IpvsDest = { af: 2, address: '10.0.1.5', port: 8080, fwdMethod: 0, weight: 1, upperThreshold: 0, lowerThreshold: 0 };

/** The nested service identity of tcp/10.0.0.2:80, shared by dest commands. */
const SERVICE_ID_TCP_10_0_0_2_80 = `
  30 00 01 80                  // IPVS_CMD_ATTR_SERVICE, NLA_F_NESTED, len 48
    06 00 01 00  02 00 00 00   //   IPVS_SVC_ATTR_AF u16 AF_INET (2), 2 pad
    06 00 02 00  06 00 00 00   //   IPVS_SVC_ATTR_PROTOCOL u16 IPPROTO_TCP (6), 2 pad
    14 00 03 00  0a 00 00 02  00 00 00 00  00 00 00 00  00 00 00 00   // IPVS_SVC_ATTR_ADDR union nf_inet_addr 10.0.0.2
    06 00 04 00  00 50 00 00   //   IPVS_SVC_ATTR_PORT __be16 80, 2 pad
`;

const fixtures: { name: string; req: GenlRequest; bytes: string }[] = [
  {
    name: 'NEW_SERVICE tcp/10.0.0.2:80 rr',
    req: newServiceRequest(FAMILY, tcpService),
    bytes: `
      68 00 00 00   // nlmsg_len 104
      1d 00         // nlmsg_type: the IPVS family id
      05 00         // NLM_F_REQUEST | NLM_F_ACK
      01 00 00 00   // seq 1
      00 00 00 00   // pid 0
      01 01 00 00   // genlmsghdr: IPVS_CMD_NEW_SERVICE (1), version 1
      54 00 01 80   // IPVS_CMD_ATTR_SERVICE, nested, len 84
        06 00 01 00  02 00 00 00   // AF AF_INET
        06 00 02 00  06 00 00 00   // PROTOCOL TCP
        14 00 03 00  0a 00 00 02  00 00 00 00  00 00 00 00  00 00 00 00   // ADDR 10.0.0.2 in 16 bytes
        06 00 04 00  00 50 00 00   // PORT 80 big-endian
        07 00 06 00  72 72 00 00   // SCHED_NAME "rr\\0", 1 pad
        0c 00 07 00  00 00 00 00  ff ff ff ff   // FLAGS struct ip_vs_flags { flags 0, mask ~0 }
        08 00 08 00  00 00 00 00   // TIMEOUT 0 s
        08 00 09 00  ff ff ff ff   // NETMASK 255.255.255.255
    `,
  },
  {
    name: 'NEW_SERVICE fwmark 0x53481f90 sh with SH_FALLBACK',
    req: newServiceRequest(FAMILY, fwmarkService),
    bytes: `
      4c 00 00 00  1d 00  05 00  01 00 00 00  00 00 00 00   // len 76, REQUEST|ACK, seq 1
      01 01 00 00                                         // NEW_SERVICE v1
      38 00 01 80                  // IPVS_CMD_ATTR_SERVICE, nested, len 56
        06 00 01 00  02 00 00 00   // AF AF_INET
        08 00 05 00  90 1f 48 53   // FWMARK u32 0x53481f90 (no PROTOCOL/ADDR/PORT)
        07 00 06 00  73 68 00 00   // SCHED_NAME "sh\\0"
        0c 00 07 00  08 00 00 00  ff ff ff ff   // FLAGS { IP_VS_SVC_F_SCHED_SH_FALLBACK (8), mask ~0 }
        08 00 08 00  00 00 00 00   // TIMEOUT 0
        08 00 09 00  ff ff ff ff   // NETMASK
    `,
  },
  {
    name: 'SET_SERVICE tcp/10.0.0.2:80 to lc',
    req: setServiceRequest(FAMILY, { ...tcpService, scheduler: 'lc' }),
    bytes: `
      68 00 00 00  1d 00  05 00  01 00 00 00  00 00 00 00
      02 01 00 00                  // IPVS_CMD_SET_SERVICE (2), version 1
      54 00 01 80
        06 00 01 00  02 00 00 00
        06 00 02 00  06 00 00 00
        14 00 03 00  0a 00 00 02  00 00 00 00  00 00 00 00  00 00 00 00
        06 00 04 00  00 50 00 00
        07 00 06 00  6c 63 00 00   // SCHED_NAME "lc\\0"
        0c 00 07 00  00 00 00 00  ff ff ff ff
        08 00 08 00  00 00 00 00
        08 00 09 00  ff ff ff ff
    `,
  },
  {
    name: 'DEL_SERVICE udp/10.0.0.3:53 (identity only)',
    req: delServiceRequest(FAMILY, { af: 2, protocol: 17, address: '10.0.0.3', port: 53, fwmark: 0 }),
    bytes: `
      44 00 00 00  1d 00  05 00  01 00 00 00  00 00 00 00   // len 68
      03 01 00 00                  // IPVS_CMD_DEL_SERVICE (3)
      30 00 01 80                  // SERVICE nested, len 48
        06 00 01 00  02 00 00 00   // AF_INET
        06 00 02 00  11 00 00 00   // IPPROTO_UDP (17)
        14 00 03 00  0a 00 00 03  00 00 00 00  00 00 00 00  00 00 00 00   // 10.0.0.3
        06 00 04 00  00 35 00 00   // port 53
    `,
  },
  {
    name: 'DEL_SERVICE fwmark',
    req: delServiceRequest(FAMILY, fwmarkService),
    bytes: `
      28 00 00 00  1d 00  05 00  01 00 00 00  00 00 00 00   // len 40
      03 01 00 00
      14 00 01 80                  // SERVICE nested, len 20
        06 00 01 00  02 00 00 00   // AF_INET
        08 00 05 00  90 1f 48 53   // FWMARK
    `,
  },
  {
    name: 'GET_SERVICE dump',
    req: getServicesRequest(FAMILY),
    bytes: `
      14 00 00 00   // len 20: headers only
      1d 00
      01 03         // NLM_F_REQUEST | NLM_F_DUMP (0x300)
      01 00 00 00  00 00 00 00
      04 01 00 00   // IPVS_CMD_GET_SERVICE (4)
    `,
  },
  {
    name: 'NEW_DEST 10.0.1.5:8080 masq weight 1',
    req: newDestRequest(FAMILY, tcpService, dest),
    bytes: `
      8c 00 00 00  1d 00  05 00  01 00 00 00  00 00 00 00   // len 140
      05 01 00 00                  // IPVS_CMD_NEW_DEST (5)
      ${SERVICE_ID_TCP_10_0_0_2_80}
      48 00 02 80                  // IPVS_CMD_ATTR_DEST, nested, len 72
        06 00 0b 00  02 00 00 00   // IPVS_DEST_ATTR_ADDR_FAMILY (11) AF_INET
        14 00 01 00  0a 00 01 05  00 00 00 00  00 00 00 00  00 00 00 00   // ADDR 10.0.1.5
        06 00 02 00  1f 90 00 00   // PORT 8080 big-endian
        08 00 03 00  00 00 00 00   // FWD_METHOD IP_VS_CONN_F_MASQ (0)
        08 00 04 00  01 00 00 00   // WEIGHT 1
        08 00 05 00  00 00 00 00   // U_THRESH 0
        08 00 06 00  00 00 00 00   // L_THRESH 0
    `,
  },
  {
    name: 'SET_DEST weight 0 (draining), upper threshold 100',
    req: setDestRequest(FAMILY, tcpService, { ...dest, weight: 0, upperThreshold: 100 }),
    bytes: `
      8c 00 00 00  1d 00  05 00  01 00 00 00  00 00 00 00
      06 01 00 00                  // IPVS_CMD_SET_DEST (6)
      ${SERVICE_ID_TCP_10_0_0_2_80}
      48 00 02 80
        06 00 0b 00  02 00 00 00
        14 00 01 00  0a 00 01 05  00 00 00 00  00 00 00 00  00 00 00 00
        06 00 02 00  1f 90 00 00
        08 00 03 00  00 00 00 00
        08 00 04 00  00 00 00 00   // WEIGHT 0
        08 00 05 00  64 00 00 00   // U_THRESH 100
        08 00 06 00  00 00 00 00
    `,
  },
  {
    name: 'DEL_DEST 10.0.1.5:8080 (identity only)',
    req: delDestRequest(FAMILY, tcpService, dest),
    bytes: `
      6c 00 00 00  1d 00  05 00  01 00 00 00  00 00 00 00   // len 108
      07 01 00 00                  // IPVS_CMD_DEL_DEST (7)
      ${SERVICE_ID_TCP_10_0_0_2_80}
      28 00 02 80                  // DEST nested, len 40
        06 00 0b 00  02 00 00 00
        14 00 01 00  0a 00 01 05  00 00 00 00  00 00 00 00  00 00 00 00
        06 00 02 00  1f 90 00 00
    `,
  },
  {
    name: 'GET_DEST dump of tcp/10.0.0.2:80',
    req: getDestsRequest(FAMILY, tcpService),
    bytes: `
      44 00 00 00  1d 00  01 03  01 00 00 00  00 00 00 00   // len 68, REQUEST|DUMP
      08 01 00 00                  // IPVS_CMD_GET_DEST (8)
      ${SERVICE_ID_TCP_10_0_0_2_80}
    `,
  },
  {
    name: 'GET_INFO',
    req: getInfoRequest(FAMILY),
    bytes: `
      14 00 00 00  1d 00  05 00  01 00 00 00  00 00 00 00
      0f 01 00 00                  // IPVS_CMD_GET_INFO (15)
    `,
  },
];

for (const f of fixtures) {
  t.test(f.name, async (t) => {
    t.same(rows(encodeGenlRequest(f.req, SEQ)), rows(hex(f.bytes)));
  });
}

/** Run a kernel datagram through framing and the dump assembler, as the socket would. */
function dumpReplies(datagram: Buffer): GenlMessage[] {
  const a = new ReplyAssembler('dump', 'dump');
  for (const m of decodeNetlinkMessages(datagram)) {
    const step = a.feed(m);
    if (step.state === 'done') return step.replies;
    if (step.state === 'failed') throw step.error;
  }
  throw new Error('dump did not end');
}

t.test('parse a GET_SERVICE dump as the kernel sends it (no NESTED flag, stats, DONE)', async (t) => {
  const datagram = hex(`
    84 00 00 00  1d 00  02 00  07 00 00 00  39 30 00 00   // len 132, NLM_F_MULTI, seq 7, pid 12345
    01 01 00 00                  // IPVS_CMD_NEW_SERVICE v1
    70 00 01 00                  // IPVS_CMD_ATTR_SERVICE, len 112 (kernel uses nla_nest_start_noflag)
      06 00 01 00  02 00 00 00   // AF_INET
      06 00 02 00  11 00 00 00   // UDP
      14 00 03 00  0a 00 00 0a  00 00 00 00  00 00 00 00  00 00 00 00   // 10.0.0.10
      06 00 04 00  00 35 00 00   // port 53
      07 00 06 00  6c 63 00 00   // "lc"
      0c 00 07 00  02 00 00 00  ff ff ff ff   // flags IP_VS_SVC_F_HASHED, mask ~0
      08 00 08 00  00 00 00 00   // timeout
      08 00 09 00  ff ff ff ff   // netmask
      0c 00 0a 00  08 00 01 00  05 00 00 00   // IPVS_SVC_ATTR_STATS { CONNS 5 }
      10 00 0c 00  0c 00 01 00  05 00 00 00  00 00 00 00   // IPVS_SVC_ATTR_STATS64 { CONNS u64 5 }
    14 00 00 00  03 00  02 00  07 00 00 00  39 30 00 00   // NLMSG_DONE
    00 00 00 00
  `);
  const [svc, ...rest] = dumpReplies(datagram).map(parseServiceMessage);
  t.same(rest, []);
  t.same(svc, { af: 2, protocol: 17, address: '10.0.0.10', port: 53, fwmark: 0, scheduler: 'lc', flags: 2, timeout: 0, netmask: 0xffffffff });
});

t.test('parse a GET_DEST dump part with every attribute a 6.x kernel sends', async (t) => {
  const datagram = hex(`
    a8 00 00 00  1d 00  02 00  08 00 00 00  39 30 00 00   // len 168, NLM_F_MULTI
    05 01 00 00                  // IPVS_CMD_NEW_DEST v1
    94 00 02 00                  // IPVS_CMD_ATTR_DEST, len 148
      14 00 01 00  0a 00 01 07  00 00 00 00  00 00 00 00  00 00 00 00   // ADDR 10.0.1.7
      06 00 02 00  1f 90 00 00   // PORT 8080
      08 00 03 00  00 00 00 00   // FWD_METHOD masq
      08 00 04 00  00 00 00 00   // WEIGHT 0
      08 00 05 00  00 00 00 00   // U_THRESH
      08 00 06 00  00 00 00 00   // L_THRESH
      08 00 07 00  03 00 00 00   // ACTIVE_CONNS 3
      08 00 08 00  02 00 00 00   // INACT_CONNS 2
      08 00 09 00  00 00 00 00   // PERSIST_CONNS 0
      0c 00 0a 00  08 00 01 00  09 00 00 00   // STATS { CONNS 9 }
      06 00 0b 00  02 00 00 00   // ADDR_FAMILY AF_INET
      10 00 0c 00  0c 00 01 00  09 00 00 00  00 00 00 00   // STATS64
      05 00 0d 00  00 00 00 00   // TUN_TYPE u8
      06 00 0e 00  00 00 00 00   // TUN_PORT
      06 00 0f 00  00 00 00 00   // TUN_FLAGS
    14 00 00 00  03 00  02 00  08 00 00 00  39 30 00 00   // NLMSG_DONE
    00 00 00 00
  `);
  const [d] = dumpReplies(datagram).map((m) => parseDestMessage(m, 2));
  t.same(d, {
    af: 2,
    address: '10.0.1.7',
    port: 8080,
    fwdMethod: 0,
    weight: 0,
    upperThreshold: 0,
    lowerThreshold: 0,
    activeConns: 3,
    inactiveConns: 2,
    persistConns: 0,
  });
});

t.test('a destination from a kernel without ADDR_FAMILY takes the service family', async (t) => {
  const attrs = hex(`
    28 00 02 00                  // DEST, len 40
      14 00 01 00  0a 00 01 08  00 00 00 00  00 00 00 00  00 00 00 00
      06 00 02 00  00 50 00 00
      08 00 04 00  05 00 00 00   // WEIGHT 5; absent fields read as 0
  `);
  const d = parseDestMessage({ family: FAMILY, flags: 2, seq: 1, cmd: 5, version: 1, attrs }, 2);
  t.same([d.af, d.address, d.port, d.weight, d.activeConns], [2, '10.0.1.8', 80, 5, 0]);
});

t.test('round trips through the reply encoders', async (t) => {
  const services: IpvsService[] = [
    { ...tcpService, flags: 2 },
    { ...fwmarkService, flags: 0x8 | 2 },
    { af: 10, protocol: 17, address: 'fd00:0:0:0:0:0:0:35', port: 53, fwmark: 0, scheduler: 'wlc', flags: 2, timeout: 300, netmask: 128 },
  ];
  for (const s of services) {
    const msg = toGenlMessage(decodeNetlinkMessages(encodeGenlMessage({ family: FAMILY, flags: 2, seq: 3, cmd: 1, version: 1, attrs: serviceReplyAttrs(s) }))[0]);
    t.same(parseServiceMessage(msg), s, `service ${s.scheduler}`);
  }
  const dests: IpvsDestEntry[] = [
    { ...dest, activeConns: 7, inactiveConns: 1, persistConns: 0 },
    { ...dest, address: '10.0.1.6', weight: 0, upperThreshold: 50, lowerThreshold: 10, fwdMethod: 3, activeConns: 0, inactiveConns: 0, persistConns: 2 },
  ];
  for (const d of dests) {
    const msg = toGenlMessage(decodeNetlinkMessages(encodeGenlMessage({ family: FAMILY, flags: 2, seq: 3, cmd: 5, version: 1, attrs: destReplyAttrs(d) }))[0]);
    t.same(parseDestMessage(msg, 2), d, `dest ${d.address}`);
  }
  t.same(parseInfo({ family: FAMILY, flags: 0, seq: 1, cmd: 14, version: 1, attrs: infoReplyAttrs(0x010201, 4096) }), { version: '1.2.1', connTableSize: 4096 });
});

t.test('parser errors', async (t) => {
  t.throws(() => parseServiceMessage({ family: FAMILY, flags: 2, seq: 1, cmd: 1, version: 1, attrs: Buffer.alloc(0) }), /without IPVS_CMD_ATTR_SERVICE/);
  t.throws(() => parseDestMessage({ family: FAMILY, flags: 2, seq: 1, cmd: 5, version: 1, attrs: Buffer.alloc(0) }, 2), /without IPVS_CMD_ATTR_DEST/);
  t.throws(
    () => parseServiceMessage({ family: FAMILY, flags: 2, seq: 1, cmd: 1, version: 1, attrs: hex('0c 00 01 00  06 00 02 00 06 00 00 00') }),
    /without address family/,
  );
});
