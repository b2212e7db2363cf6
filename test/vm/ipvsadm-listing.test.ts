import t from 'tap';
import { findService, parseIpvsadmList } from './ipvsadm-listing';

// Captured in the VM (ipvs-vm.test.ts), trailing blanks included, as ipvsadm 1.31 prints them.
const DRAIN = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.0.0.192:80 rr
  -> 10.0.1.1:8080                Masq    1      1          0         
  -> 10.0.1.2:8080                Masq    0      1          0         
TCP  10.9.9.9:99 rr
  -> 10.9.9.10:99                 Masq    3      0          0         
UDP  192.168.77.1:5353 sh (sh-fallback)
  -> 10.0.1.1:53                  Masq    1      0          0         
FWM  1397227608 wlc persistent 360
`;

t.test('parses services, flags and destinations', async (t) => {
  const listing = parseIpvsadmList(DRAIN);
  t.equal(listing.version, '1.2.1');
  t.same(
    listing.services.map((s) => [s.protocol, s.address, s.scheduler, s.flags, s.dests.length]),
    [
      ['TCP', '10.0.0.192:80', 'rr', '', 2],
      ['TCP', '10.9.9.9:99', 'rr', '', 1],
      ['UDP', '192.168.77.1:5353', 'sh', '(sh-fallback)', 1],
      ['FWM', '1397227608', 'wlc', 'persistent 360', 0],
    ],
  );
  t.same(findService(listing, 'TCP', '10.0.0.192:80')?.dests, [
    { address: '10.0.1.1:8080', forward: 'Masq', weight: 1, activeConns: 1, inactiveConns: 0 },
    { address: '10.0.1.2:8080', forward: 'Masq', weight: 0, activeConns: 1, inactiveConns: 0 },
  ]);
  t.equal(findService(listing, 'UDP', '10.0.0.192:80'), undefined);
});

t.test('empty table, missing banner, stray destination', async (t) => {
  t.same(parseIpvsadmList('IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n'), { version: '1.2.1', services: [] });
  t.same(parseIpvsadmList(''), { version: undefined, services: [] });
  t.throws(() => parseIpvsadmList('  -> 10.0.1.1:8080  Masq 1 0 0\n'), /before any service/);
});
