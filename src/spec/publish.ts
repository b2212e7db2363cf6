import { InvalidArgumentError } from '../errors';
import type { PortConfig } from '../model/types';

function port(v: string, spec: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`invalid publish "${spec}": "${v}" is not a port number`);
  const n = Number(v);
  if (n < 1 || n > 65535) throw new InvalidArgumentError(`invalid publish "${spec}": port ${n} is out of range 1-65535`);
  return n;
}

function protocol(v: string, spec: string): 'tcp' | 'udp' {
  if (v !== 'tcp' && v !== 'udp') throw new InvalidArgumentError(`invalid publish "${spec}": protocol "${v}" must be tcp or udp`);
  return v;
}

/**
 * Parse Docker's `-p` forms: `8080:80`, `8080:80/udp`, `80` (target only,
 * reachable through the VIP), and the long form
 * `published=8080,target=80,protocol=udp,mode=host`.
 */
export function parsePublish(spec: string): PortConfig {
  if (spec.includes('=')) {
    const fields: Record<string, string> = {};
    for (const part of spec.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new InvalidArgumentError(`invalid publish "${spec}": expected key=value, got "${part}"`);
      const k = part.slice(0, eq).trim();
      if (!['published', 'target', 'protocol', 'mode', 'proxy-protocol'].includes(k)) {
        throw new InvalidArgumentError(`invalid publish "${spec}": unknown field "${k}" (use published, target, protocol, mode, proxy-protocol)`);
      }
      fields[k] = part.slice(eq + 1).trim();
    }
    if (fields.target === undefined) throw new InvalidArgumentError(`invalid publish "${spec}": target is required`);
    const mode = fields.mode ?? 'ingress';
    if (mode !== 'ingress' && mode !== 'host') throw new InvalidArgumentError(`invalid publish "${spec}": mode "${mode}" must be ingress or host`);
    if (mode === 'host' && fields.published === undefined) throw new InvalidArgumentError(`invalid publish "${spec}": host-mode publish needs published=PORT`);
    const pp = fields['proxy-protocol'];
    if (pp !== undefined && pp !== 'v1' && pp !== 'v2') throw new InvalidArgumentError(`invalid publish "${spec}": proxy-protocol "${pp}" must be v1 or v2`);
    const out: PortConfig = {
      targetPort: port(fields.target, spec),
      publishedPort: fields.published === undefined ? undefined : port(fields.published, spec),
      protocol: protocol(fields.protocol ?? 'tcp', spec),
      publishMode: mode,
    };
    if (pp) out.proxyProtocol = pp;
    return out;
  }
  const m = /^(?:(\d+):)?(\d+)(?:\/(\w+))?$/.exec(spec);
  if (!m) throw new InvalidArgumentError(`invalid publish "${spec}": use PUBLISHED:TARGET[/udp] or published=,target=,protocol=,mode=`);
  return {
    publishedPort: m[1] === undefined ? undefined : port(m[1], spec),
    targetPort: port(m[2], spec),
    protocol: protocol(m[3] ?? 'tcp', spec),
    publishMode: 'ingress',
  };
}

/** How `service ls` shows a port: `*:8080->80/tcp`. */
export function formatPort(p: PortConfig): string {
  if (p.publishedPort === undefined) return `${p.targetPort}/${p.protocol}`;
  return `*:${p.publishedPort}->${p.targetPort}/${p.protocol}${p.publishMode === 'host' ? ' (host)' : ''}`;
}
