/**
 * When a node renews its certificate: at a random point between 50% and 80%
 * of the validity window (swarmkit's choice), so a cluster whose nodes all
 * joined at once does not renew at once, and a failed attempt still has 20%
 * of the lifetime to retry in. Pure: the random draw is an input.
 */
import type { CertIdentity } from './identity';

/** The fraction of the validity window where renewal may start and where it must have happened. */
export const RENEW_WINDOW_START = 0.5;
export const RENEW_WINDOW_END = 0.8;

/** The renewal time of a certificate valid from `notBefore` to `notAfter`; `random` in [0, 1) (Math.random()) picks the point in the window. */
export function renewAt(notBefore: Date, notAfter: Date, random: number): Date {
  const r = Math.min(Math.max(random, 0), 1);
  const span = notAfter.getTime() - notBefore.getTime();
  const fraction = RENEW_WINDOW_START + (RENEW_WINDOW_END - RENEW_WINDOW_START) * r;
  return new Date(notBefore.getTime() + Math.max(span, 0) * fraction);
}

/** How long from `now` until the certificate should be renewed; 0 when that time has passed (renew now). */
export function renewDelayMs(cert: Pick<CertIdentity, 'notBefore' | 'notAfter'>, now: Date, random: number): number {
  return Math.max(0, renewAt(cert.notBefore, cert.notAfter, random).getTime() - now.getTime());
}
