/**
 * Where the etcd store connects: `etcd://h1:2379,h2:2379,h3:2379` parsed
 * into members, and the TLS files read into etcd3's credentials.
 */
import { promises as fsp } from 'node:fs';
import { InvalidArgumentError } from '../errors';

/** One etcd member's client address. */
export interface EtcdEndpoint {
  host: string;
  port: number;
}

/** Files for TLS to etcd: the CA that signed the members' certificates, and a client certificate when etcd asks for one. */
export interface EtcdTlsFiles {
  caFile: string;
  certFile?: string;
  keyFile?: string;
}

/** etcd3's `credentials` option. */
export interface EtcdCredentials {
  rootCertificate: Buffer;
  certChain?: Buffer;
  privateKey?: Buffer;
}

const SCHEME = 'etcd://';
const EXAMPLE = 'etcd://h1:2379,h2:2379,h3:2379';
const MAX_PORT = 65_535;
/** `host:port` or `[v6]:port`. */
const MEMBER = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:/[\]\s]+)):(\d+)$/;

/** The members of an `etcd://h1:2379,h2:2379` address; InvalidArgumentError with one line saying what is wrong. */
export function parseEtcdUrl(url: string): EtcdEndpoint[] {
  if (!url.startsWith(SCHEME)) throw new InvalidArgumentError(`etcd address ${JSON.stringify(url)} must start with ${SCHEME} (${EXAMPLE})`);
  const rest = url.slice(SCHEME.length).replace(/\/$/, '');
  if (rest === '') throw new InvalidArgumentError(`etcd address ${JSON.stringify(url)} names no member (${EXAMPLE})`);
  return rest.split(',').map((member) => {
    const m = MEMBER.exec(member);
    if (!m) throw new InvalidArgumentError(`etcd member ${JSON.stringify(member)} in ${JSON.stringify(url)} is not host:port (${EXAMPLE})`);
    const port = Number(m[3]);
    if (port < 1 || port > MAX_PORT) throw new InvalidArgumentError(`etcd member ${JSON.stringify(member)} has port ${m[3]}, not 1-${MAX_PORT}`);
    return { host: m[1] ?? m[2], port };
  });
}

/** etcd3's `hosts`: one URL per member, https when TLS is on. */
export function hostUrls(endpoints: EtcdEndpoint[], tls: boolean): string[] {
  const scheme = tls ? 'https' : 'http';
  return endpoints.map((e) => `${scheme}://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`);
}

/** Read the TLS files; InvalidArgumentError naming the file that cannot be read, or a key without its certificate. */
export async function readCredentials(tls: EtcdTlsFiles): Promise<EtcdCredentials> {
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new InvalidArgumentError('etcd client TLS needs both a certificate and its key, or neither');
  }
  const read = async (file: string, what: string) => {
    try {
      return await fsp.readFile(file);
    } catch (err) {
      throw new InvalidArgumentError(`cannot read the etcd ${what} ${file}: ${(err as Error).message}`);
    }
  };
  return {
    rootCertificate: await read(tls.caFile, 'CA certificate'),
    ...(tls.certFile !== undefined && { certChain: await read(tls.certFile, 'client certificate') }),
    ...(tls.keyFile !== undefined && { privateKey: await read(tls.keyFile, 'client key') }),
  };
}
