import type { LbSettings, Protocol } from '../../model/types';

/** A backend a frontend forwards to: one task's listening address. */
export interface Backend {
  /** Task id; stable across table rebuilds so dataplanes can diff. */
  id: string;
  address: string;
  port: number;
  /** 0 = draining: no new connections or flows, existing ones finish. */
  weight: number;
}

/**
 * Something the mesh listens on: a published port on the node's address
 * (`ingress`: every node, to any task; `host`: only nodes running a task of
 * the service, to their own tasks), or VIP:targetPort.
 */
export interface Frontend {
  /** Stable key, e.g. `ingress/tcp/127.0.1.1:8080`, `host/tcp/127.0.1.2:9000` or `vip/udp/127.21.0.1:53`. */
  id: string;
  kind: 'ingress' | 'host' | 'vip';
  protocol: Protocol;
  address: string;
  port: number;
  /** Service name, for metrics labels and logs. */
  service: string;
  backends: Backend[];
  /** PROXY protocol header sent to backends (ingress TCP only). */
  proxyProtocol?: 'v1' | 'v2';
  /** Policy and limits from the service's endpoint; absent fields take the dataplane's defaults. */
  lb?: LbSettings;
}

/** The whole load-balancing table of one node: what `Dataplane.apply` reconciles to. */
export interface LbTable {
  frontends: Frontend[];
}

/** Outcome of applying a table: frontends that could not be served and why. */
export interface ApplyResult {
  failed: { frontendId: string; error: string }[];
}

/** A way of forwarding: userspace sockets, nftables, IPVS. */
export interface Dataplane {
  readonly name: 'userspace' | 'nftables' | 'ipvs';
  /** Reconcile to this table: open new frontends, close removed ones, swap backends in place. */
  apply(table: LbTable): Promise<ApplyResult>;
  /** Close every frontend. Safe to call twice. */
  close(): Promise<void>;
}
