/**
 * The shared dataplane compliance suite against the nftables dataplane, run
 * by nft-dataplane.test.ts inside a namespace of its own (the suite's
 * fixtures open their sockets in the process's namespace, so the whole
 * process moves there). Frontends sit on one address of a dummy interface,
 * backends on another: clients on the node itself, through the output hook.
 * What only userspace can do (retry a refused connect, replay an unanswered
 * connection, move a UDP flow that conntrack pinned) is switched off.
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { NftablesDataplane } from '../../../../src/mesh/dataplane/nftables/nft-dataplane';
import { dataplaneCompliance } from '../dataplane-compliance';

const frontendAddress = process.env.SHOAL_NFT_FRONTEND_ADDRESS;
const backendAddress = process.env.SHOAL_NFT_BACKEND_ADDRESS;
if (!frontendAddress || !backendAddress) {
  // Picked up on its own by a `tap <dir>` run: nothing to do outside the namespace.
  t.plan(0, 'run by nft-dataplane.test.ts inside its namespace');
} else {
  dataplaneCompliance(t, () => new NftablesDataplane({ logger: pino({ level: 'silent' }), registry: new Registry() }, { resyncIntervalMs: 0 }), {
    frontendAddress,
    backendAddress,
    retriesRefusedConnect: false,
    replaysUnansweredConnections: false,
    migratesUdpFlows: false,
  });
}
