/**
 * `ipvsadm -Ln` output as data, so the VM test asserts on what the kernel
 * holds as ipvsadm (the reference tool, not shoal's own parser) reports it.
 */

/** One real server line: `  -> 10.0.1.1:8080  Masq  1  0  0`. */
export interface IpvsadmDest {
  address: string;
  /** Masq, Route, Tunnel, Local. */
  forward: string;
  weight: number;
  activeConns: number;
  inactiveConns: number;
}

/** One virtual service line with the destinations listed under it. */
export interface IpvsadmService {
  /** TCP, UDP, SCTP or FWM. */
  protocol: string;
  /** `address:port`, or the mark for FWM. */
  address: string;
  scheduler: string;
  /** What follows the scheduler (`sh-fallback`, `persistent 360`...), '' when nothing. */
  flags: string;
  dests: IpvsadmDest[];
}

/** The whole listing. */
export interface IpvsadmListing {
  /** `1.2.1` from the banner; undefined when the banner is missing. */
  version: string | undefined;
  services: IpvsadmService[];
}

/** Parse `ipvsadm -Ln` output; lines it does not know (headers, blank) are skipped, a dest before any service is an error. */
export function parseIpvsadmList(text: string): IpvsadmListing {
  const services: IpvsadmService[] = [];
  let version: string | undefined;
  for (const line of text.split('\n')) {
    const banner = /^IP Virtual Server version (\S+)/.exec(line);
    if (banner) {
      version = banner[1];
      continue;
    }
    const svc = /^(TCP|UDP|SCTP|FWM)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (svc) {
      services.push({ protocol: svc[1], address: svc[2], scheduler: svc[3], flags: svc[4].trim(), dests: [] });
      continue;
    }
    const dest = /^\s+->\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (dest) {
      const current = services.at(-1);
      if (!current) throw new Error(`ipvsadm destination before any service: ${line}`);
      current.dests.push({ address: dest[1], forward: dest[2], weight: Number(dest[3]), activeConns: Number(dest[4]), inactiveConns: Number(dest[5]) });
    }
  }
  return { version, services };
}

/** The service listed as `protocol address`, e.g. `TCP 10.0.0.192:80`. */
export function findService(listing: IpvsadmListing, protocol: string, address: string): IpvsadmService | undefined {
  return listing.services.find((s) => s.protocol === protocol && s.address === address);
}
