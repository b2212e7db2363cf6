import t from 'tap';
import { addressFamily, inetAddrBytes, inetAddrText } from '../../../../src/mesh/dataplane/ipvs/ip-address-bytes';

t.test('address families', async (t) => {
  t.equal(addressFamily('10.0.0.1'), 2);
  t.equal(addressFamily('fd00::1'), 10);
  t.equal(addressFamily('example.com'), 0);
  t.equal(addressFamily('10.0.0.256'), 0);
});

t.test('to and from union nf_inet_addr bytes', async (t) => {
  const cases: { af: number; text: string; hex: string; back: string }[] = [
    { af: 2, text: '10.0.1.5', hex: '0a000105000000000000000000000000', back: '10.0.1.5' },
    { af: 2, text: '255.255.255.255', hex: 'ffffffff000000000000000000000000', back: '255.255.255.255' },
    { af: 10, text: 'fd00::1', hex: 'fd000000000000000000000000000001', back: 'fd00:0:0:0:0:0:0:1' },
    { af: 10, text: '::', hex: '00000000000000000000000000000000', back: '0:0:0:0:0:0:0:0' },
    { af: 10, text: '2001:db8::8:800:200c:417a', hex: '20010db8000000000008080020 0c417a'.replace(' ', ''), back: '2001:db8:0:0:8:800:200c:417a' },
    { af: 10, text: '::ffff:10.0.0.1', hex: '00000000000000000000ffff0a000001', back: '0:0:0:0:0:ffff:a00:1' },
    { af: 10, text: '1:2:3:4:5:6:7:8', hex: '00010002000300040005000600070008', back: '1:2:3:4:5:6:7:8' },
  ];
  for (const c of cases) {
    const b = inetAddrBytes(c.af, c.text);
    t.equal(b.toString('hex'), c.hex, `${c.text} to bytes`);
    t.equal(inetAddrText(c.af, b), c.back, `${c.text} back to text`);
  }
});

t.test('mismatched family or short bytes are errors', async (t) => {
  t.throws(() => inetAddrBytes(2, 'fd00::1'), /not of family 2/);
  t.throws(() => inetAddrBytes(10, '10.0.0.1'), /not of family 10/);
  t.throws(() => inetAddrText(10, Buffer.alloc(4)), /IPv6 address of 4 bytes/);
  t.throws(() => inetAddrText(7, Buffer.alloc(16)), /unknown address family 7/);
});
