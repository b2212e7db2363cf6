import t from 'tap';
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  decodeNetlinkMessages,
  doneCodeOf,
  encodeGenlMessage,
  encodeGenlRequest,
  errorCodeOf,
  requestFlags,
  toGenlMessage,
} from '../../../src/net/genl/genl-message';
import { getFamilyRequest, listFamiliesRequest } from '../../../src/net/genl/ctrl-family';
import { hex, rows } from './hex-fixture';

/** CTRL_CMD_GETFAMILY for "IPVS", laid out from linux/netlink.h and linux/genetlink.h by hand. */
const GETFAMILY_IPVS = hex(`
  // struct nlmsghdr
  20 00 00 00   // nlmsg_len 32
  10 00         // nlmsg_type GENL_ID_CTRL
  05 00         // nlmsg_flags NLM_F_REQUEST | NLM_F_ACK
  01 00 00 00   // nlmsg_seq 1
  00 00 00 00   // nlmsg_pid 0
  // struct genlmsghdr
  03            // cmd CTRL_CMD_GETFAMILY
  01            // version 1
  00 00         // reserved
  // CTRL_ATTR_FAMILY_NAME
  09 00 02 00  49 50 56 53 00  00 00 00   // len 9, type 2, "IPVS\\0", 3 pad
`);

t.test('GETFAMILY request bytes', async (t) => {
  t.same(rows(encodeGenlRequest(getFamilyRequest('IPVS'), 1)), rows(GETFAMILY_IPVS));
});

t.test('dump request: NLM_F_REQUEST | NLM_F_DUMP, no ACK', async (t) => {
  const expected = hex(`
    14 00 00 00   // len 20
    10 00         // GENL_ID_CTRL
    01 03         // NLM_F_REQUEST | NLM_F_ROOT | NLM_F_MATCH (0x301)
    2a 00 00 00   // seq 42
    39 30 00 00   // pid 12345
    03 01 00 00   // CTRL_CMD_GETFAMILY v1
  `);
  t.same(rows(encodeGenlRequest(listFamiliesRequest(), 42, 12345)), rows(expected));
  t.equal(requestFlags('do'), 0x5);
  t.equal(requestFlags('dump'), 0x301);
});

t.test('family names the controller cannot hold are refused', async (t) => {
  t.throws(() => getFamilyRequest(''));
  t.throws(() => getFamilyRequest('a'.repeat(16)), /invalid generic netlink family name/);
});

t.test('a datagram with several messages splits at aligned lengths', async (t) => {
  const datagram = hex(`
    // message 1: a genl reply of 21 bytes (padded to 24)
    15 00 00 00  1d 00  02 00  07 00 00 00  00 00 00 00   // len 21, type 0x1d, NLM_F_MULTI, seq 7
    01 01 00 00                                         // cmd 1, version 1
    ab 00 00 00                                         // 1 payload byte + 3 pad
    // message 2: NLMSG_DONE carrying int 0
    14 00 00 00  03 00  02 00  07 00 00 00  00 00 00 00
    00 00 00 00
    // message 3: NLMSG_ERROR -ENOENT with the request header echoed
    24 00 00 00  02 00  00 00  08 00 00 00  00 00 00 00
    fe ff ff ff                                          // error -2
    14 00 00 00  1d 00  05 00  08 00 00 00  00 00 00 00  // original nlmsghdr
  `);
  const msgs = decodeNetlinkMessages(datagram);
  t.same(
    msgs.map((m) => [m.type, m.flags, m.seq, m.payload.length]),
    [
      [0x1d, 2, 7, 5],
      [NLMSG_DONE, 2, 7, 4],
      [NLMSG_ERROR, 0, 8, 20],
    ],
  );
  const g = toGenlMessage(msgs[0]);
  t.same([g.family, g.cmd, g.version, g.attrs.toString('hex')], [0x1d, 1, 1, 'ab']);
  t.equal(doneCodeOf(msgs[1]), 0);
  t.equal(errorCodeOf(msgs[2]), 2, 'errno is positive');
});

t.test('malformed datagrams are errors', async (t) => {
  t.throws(() => decodeNetlinkMessages(hex('30 00 00 00 1d 00 00 00 01 00 00 00 00 00 00 00')), /malformed netlink message/);
  t.throws(() => decodeNetlinkMessages(hex('08 00 00 00 1d 00 00 00 01 00 00 00 00 00 00 00')), /length 8/);
  t.throws(() => toGenlMessage({ type: 0x1d, flags: 0, seq: 1, pid: 0, payload: Buffer.alloc(2) }), /no genlmsghdr/);
});

t.test('encodeGenlMessage frames what decode reads back', async (t) => {
  const bytes = encodeGenlMessage({ family: 0x1d, flags: 2, seq: 9, cmd: 5, version: 1, attrs: hex('06 00 01 00 02 00 00 00') }, 77);
  const [m] = decodeNetlinkMessages(bytes);
  t.same([m.type, m.flags, m.seq, m.pid], [0x1d, 2, 9, 77]);
  const g = toGenlMessage(m);
  t.same([g.cmd, g.version, g.attrs.toString('hex')], [5, 1, '0600010002000000']);
});
