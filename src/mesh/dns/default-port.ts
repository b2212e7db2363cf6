import * as dgram from 'node:dgram';
import { isIPv6 } from 'node:net';

/** The standard DNS port, usable as root or with CAP_NET_BIND_SERVICE. */
export const PRIVILEGED_DNS_PORT = 53;
/** Where an unprivileged node serves DNS instead. */
export const UNPRIVILEGED_DNS_PORT = 5353;

/** The port a node's DNS server should use: 53 when this process can bind `address:53` over UDP, else 5353. */
export async function defaultDnsPort(address: string): Promise<number> {
  return (await canBindUdp(address, PRIVILEGED_DNS_PORT)) ? PRIVILEGED_DNS_PORT : UNPRIVILEGED_DNS_PORT;
}

function canBindUdp(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    socket.once('error', () => {
      try {
        socket.close();
      } catch {
        // a socket whose bind failed may already be closed
      }
      resolve(false);
    });
    socket.bind(port, address, () => {
      socket.close(() => resolve(true));
    });
  });
}
