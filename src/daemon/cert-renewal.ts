/**
 * Keeping a node's certificate current: renewed at a random point between
 * half and four fifths of its life (as swarmkit does), at once when the
 * managers name an issuing root that did not sign it (`swarm ca --rotate`)
 * or a role it does not carry (`node promote/demote`), and the trust bundle
 * taken from every heartbeat answer. A renewal sends a CSR for a fresh key,
 * over mutual TLS with the certificate being replaced.
 */
import type { Logger } from 'pino';
import type { HeartbeatResponse, IssueCertificateResponse } from '../api/contract';
import type { NodeRole } from '../model/types';
import { issuedDirectlyBy, renewDelayMs } from '../pki';
import { newCsr, type NodeTls } from './node-tls';

/** Pause before trying a failed renewal again. */
const RETRY_MS = 5_000;

/** What renewal needs. */
export interface CertRenewalDeps {
  tls: NodeTls;
  /** POST to the managers (mTLS with the current certificate). */
  call<T>(method: 'POST', path: string, body: unknown): Promise<T>;
  logger: Logger;
  now: () => number;
  /** Addresses the node's API answers on, for the certificate. */
  ipAddresses: string[];
}

/** The renewal schedule of one node's certificate. */
export class CertRenewal {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: CertRenewalDeps) {}

  /** Schedule the next renewal from the certificate's validity. */
  start(): void {
    this.schedule(renewDelayMs(this.deps.tls.identity(), new Date(this.deps.now()), Math.random()));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** A heartbeat's view of the CA: take its trust bundle; renew now if the issuing root did not sign this certificate. */
  onPki(pki: NonNullable<HeartbeatResponse['pki']>): void {
    const creds = this.deps.tls.credentials;
    if (pki.trustBundle.join() !== creds.trustBundle.join()) {
      this.deps.logger.info({ roots: pki.trustBundle.length }, 'the swarm trusts other roots now');
      void this.deps.tls.replace({ ...creds, trustBundle: pki.trustBundle }).catch((err: unknown) => this.deps.logger.warn({ err }, 'could not save the trust bundle'));
    }
    if (!issuedDirectlyBy(creds.certPem, pki.issuingRootPem)) void this.renewNow('the swarm has a new root CA').catch(() => undefined);
  }

  /** Renew when the role on record is not the certificate's. */
  async ensureRole(role: NodeRole): Promise<void> {
    if (this.deps.tls.identity().role !== role) await this.renewNow(`the node is a ${role} now`);
  }

  /** Renew at once (one renewal at a time; a second caller waits for it). */
  renewNow(why: string): Promise<void> {
    this.running ??= this.renew(why).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async renew(why: string): Promise<void> {
    try {
      const { keyPem, csrPem } = await newCsr();
      const issued = await this.deps.call<IssueCertificateResponse>('POST', '/v1/ca/renew', { csrPem, ipAddresses: this.deps.ipAddresses });
      await this.deps.tls.renewed(keyPem, issued);
      this.deps.logger.info({ why, role: issued.role }, 'node certificate renewed');
      this.start();
    } catch (err) {
      this.deps.logger.warn({ err, why }, 'certificate renewal failed; trying again shortly');
      this.schedule(RETRY_MS);
      throw err;
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    // setTimeout's limit is 2^31-1 ms (24.8 days): a longer wait is taken in steps.
    const step = Math.min(Math.max(ms, 0), 2 ** 31 - 1);
    this.timer = setTimeout(() => (step < ms ? this.schedule(ms - step) : void this.renewNow('the certificate is due').catch(() => undefined)), step);
    this.timer.unref();
  }
}
