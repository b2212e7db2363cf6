/**
 * Whether the nftables dataplane can work here: the nft binary exists, the
 * process may program nftables (CAP_NET_ADMIN), and the kernel accepts every
 * expression shoal's table uses (nat hooks, numgen, jhash, masquerade, vmap,
 * reject). The kernel check is `nft --check`: the kernel builds the whole
 * transaction, loading modules as needed, and then aborts it, so probing
 * leaves nothing behind and touches no other table.
 */
import type { Frontend } from '../../table/table';
import { NftCommandError, systemNft, type NftRunner } from './nft-runner';
import { renderRuleset } from './nft-ruleset';

/** Outcome of probeNftables(). */
export type NftablesProbe = { ok: true } | { ok: false; reason: string };

/** Where to probe. */
export interface NftablesProbeOptions {
  /** Namespace the dataplane would program; the caller's own when absent. */
  netns?: string;
  /** Runs nft; defaults to the system binary in `netns`. */
  nft?: NftRunner;
}

/** Documentation addresses (RFC 5737): the checked ruleset names them but is never committed. */
const PROBE_FRONTENDS: Frontend[] = [
  probeFrontend('tcp', '192.0.2.1', 80, 'round-robin', 2),
  probeFrontend('udp', '192.0.2.1', 53, 'source-hash', 2),
  probeFrontend('tcp', '192.0.2.2', 80, 'least-connections', 2),
  probeFrontend('udp', '192.0.2.2', 53, 'round-robin', 0),
];

/** Probe nft and the kernel; never throws. */
export async function probeNftables(options: NftablesProbeOptions = {}): Promise<NftablesProbe> {
  if (process.platform !== 'linux') return { ok: false, reason: 'nftables needs Linux' };
  const nft = options.nft ?? systemNft(options.netns);
  try {
    await nft.run(['--version']);
  } catch (err) {
    return { ok: false, reason: missingBinary(err) ? 'the nft binary is not installed (package nftables)' : `nft does not run: ${describe(err)}` };
  }
  try {
    await nft.run(['--check', '-f', '-'], renderRuleset(PROBE_FRONTENDS).script);
    return { ok: true };
  } catch (err) {
    const text = describe(err);
    if (/Operation not permitted/i.test(text)) return { ok: false, reason: 'programming nftables needs CAP_NET_ADMIN' };
    return { ok: false, reason: `the kernel refused shoal's test ruleset: ${text}` };
  }
}

function probeFrontend(protocol: 'tcp' | 'udp', address: string, port: number, policy: 'round-robin' | 'source-hash' | 'least-connections', backends: number): Frontend {
  return {
    id: `probe/${protocol}/${address}:${port}`,
    kind: 'vip',
    protocol,
    address,
    port,
    service: 'probe',
    lb: { policy },
    backends: Array.from({ length: backends }, (_, i) => ({ id: `b${i}`, address: `192.0.2.${10 + i}`, port: 8080, weight: 1 })),
  };
}

function missingBinary(err: unknown): boolean {
  if (!(err instanceof NftCommandError)) return false;
  // Spawned directly: ENOENT. Through `ip netns exec`: ip reports the failed exec.
  return err.spawnCode === 'ENOENT' || /exec of "nft" failed/.test(err.stderr);
}

function describe(err: unknown): string {
  if (err instanceof NftCommandError) return err.stderr.split('\n')[0] || err.message;
  return err instanceof Error ? err.message : String(err);
}
