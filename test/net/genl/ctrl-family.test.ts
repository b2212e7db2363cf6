import t from 'tap';
import { FamilyNotFoundError, parseFamily, resolveFamily } from '../../../src/net/genl/ctrl-family';
import { decodeNetlinkMessages, toGenlMessage } from '../../../src/net/genl/genl-message';
import type { GenlMessage, GenlRequest } from '../../../src/net/genl/genl-message';
import type { GenlTransport } from '../../../src/net/genl/genl-transport';
import { NetlinkError } from '../../../src/net/genl/netlink-error';
import { hex } from './hex-fixture';

/** A CTRL_CMD_NEWFAMILY reply as the kernel's ctrl_fill_info lays it out (ops omitted). */
const NEWFAMILY_ETHTOOL = hex(`
  // nlmsghdr
  5c 00 00 00   // len 92
  10 00         // GENL_ID_CTRL
  00 00         // no flags
  01 00 00 00   // seq 1
  39 30 00 00   // pid
  // genlmsghdr
  01 02 00 00   // CTRL_CMD_NEWFAMILY, version 2
  0c 00 02 00  65 74 68 74 6f 6f 6c 00      // CTRL_ATTR_FAMILY_NAME "ethtool\\0"
  06 00 01 00  15 00 00 00                  // CTRL_ATTR_FAMILY_ID 0x15
  08 00 03 00  01 00 00 00                  // CTRL_ATTR_VERSION 1
  08 00 04 00  00 00 00 00                  // CTRL_ATTR_HDRSIZE 0
  08 00 05 00  5a 00 00 00                  // CTRL_ATTR_MAXATTR 90
  1c 00 07 80                               // CTRL_ATTR_MCAST_GROUPS, nested, len 28
    18 00 01 80                             //   group #1, nested, len 24
      0c 00 01 00  6d 6f 6e 69 74 6f 72 00  //     CTRL_ATTR_MCAST_GRP_NAME "monitor\\0"
      08 00 02 00  05 00 00 00              //     CTRL_ATTR_MCAST_GRP_ID 5
`);

t.test('parse a NEWFAMILY reply', async (t) => {
  const [m] = decodeNetlinkMessages(NEWFAMILY_ETHTOOL);
  t.same(parseFamily(toGenlMessage(m)), { id: 0x15, name: 'ethtool', version: 1, hdrSize: 0, maxAttr: 90, mcastGroups: { monitor: 5 } });
});

t.test('a reply without id is an error', async (t) => {
  t.throws(() => parseFamily({ family: 0x10, flags: 0, seq: 1, cmd: 1, version: 2, attrs: Buffer.alloc(0) }), /without family id/);
});

function transport(answer: (req: GenlRequest) => GenlMessage[] | Error): GenlTransport {
  return {
    request: async (req) => {
      const a = answer(req);
      if (a instanceof Error) throw a;
      return a;
    },
    close: () => {},
  };
}

t.test('resolveFamily: ENOENT means not found, other errors pass through', async (t) => {
  await t.rejects(resolveFamily(transport(() => new NetlinkError('resolve', 2)), 'IPVS'), FamilyNotFoundError);
  await t.rejects(resolveFamily(transport(() => new NetlinkError('resolve', 2)), 'IPVS'), { message: 'generic netlink family IPVS not found' });
  const eperm = await resolveFamily(transport(() => new NetlinkError('resolve', 1)), 'IPVS').catch((e: unknown) => e);
  t.equal((eperm as NetlinkError).errnoName, 'EPERM');
  await t.rejects(resolveFamily(transport(() => []), 'IPVS'), /no family description/);
  const [m] = decodeNetlinkMessages(NEWFAMILY_ETHTOOL);
  const f = await resolveFamily(transport(() => [toGenlMessage(m)]), 'ethtool');
  t.equal(f.id, 0x15);
});
