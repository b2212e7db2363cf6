import type { Logger } from 'pino';
import type { PortRange } from '../agent/executor/host-ports';
import type { DataplaneRequest } from '../mesh/dataplane/select';
import type { EtcdTlsFiles } from '../store/etcd-endpoints';
import type { NetworkMode } from '../mesh/table/service-vip';

/** Settings of one node daemon (`shoal daemon` flags). */
export interface DaemonOptions {
  /** Address the node's mesh, DNS, metrics and manager API listen on. */
  address: string;
  stateDir: string;
  /** Local control socket; default `<stateDir>/shoal.sock`. */
  socketPath?: string;
  hostname: string;
  labels: Record<string, string>;
  dnsPort: number;
  metricsPort: number;
  /** Manager API TCP port (managers only). */
  apiPort: number;
  heartbeatMs: number;
  /** Initialise a new swarm on first start (no-op when the state dir has one). */
  init: boolean;
  /** With init: wrap the secrets key under an unlock key (`swarm init --autolock`). */
  autolock?: boolean;
  /** Join a swarm on first start. */
  join?: { addr: string; token: string };
  dnsUpstreams?: string[];
  dnsTtl?: number;
  /** Tasks on the node's loopback addresses, or in namespaces on overlays [loopback]. */
  networkMode?: NetworkMode;
  /** Which dataplane to run [auto]. */
  dataplane?: DataplaneRequest;
  /** UDP port of the VXLAN overlay [4789]. */
  vxlanPort?: number;
  /** Threads of the userspace TCP relay when the native addon is loaded [1]. */
  relayThreads?: number;
  /** Prefix of task namespace names [shoal-t-]. */
  netnsPrefix?: string;
  /** Ports tasks get in loopback mode, reserved host-wide [20000-32767]. */
  taskPortRange?: PortRange;
  /** Where a manager keeps the cluster state: an etcd cluster shared by every manager; absent, the embedded store (one manager). */
  store?: ManagerStoreSpec;
}

/** `--store etcd://h1:2379,...` and its TLS files. */
export interface ManagerStoreSpec {
  url: string;
  tls?: EtcdTlsFiles;
}

/** Dependencies of a daemon. */
export interface DaemonDeps {
  logger: Logger;
  now: () => number;
}
