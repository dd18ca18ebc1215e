import { Injectable } from '@nestjs/common';
import { AppConfig } from '@app/config';
import type { Request } from 'express';
import { MetricsService } from '../ops/metrics.service';
import { InFlightLimits } from './in-flight-limits';

/** How long a client refused by a cap is told to wait, seconds. */
export const LIMITED_RETRY_AFTER_SECONDS = 5;

/**
 * The client's address: what the one trusted proxy hop (the load balancer,
 * `trust proxy` = 1 in configure.ts) saw, i.e. the last `X-Forwarded-For`
 * entry; entries a client writes itself come before it and are ignored.
 * Without a proxy in front it is the socket's peer.
 */
export function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/**
 * What one client may hold open on this web tier: uploads whose body is still
 * arriving (per client address, per tenant), and connections held open for a
 * later answer, event streams and classic requests (per client address, per
 * tenant, in all). Beyond a cap: 429 with Retry-After.
 */
@Injectable()
export class ClientLimits {
  private readonly uploads: InFlightLimits;
  private readonly waiting: InFlightLimits;

  constructor(config: AppConfig, metrics: MetricsService) {
    const w = config.web;
    const count = (what: string, scope: string) => () => metrics.clientLimited.inc({ what, scope });
    this.uploads = new InFlightLimits(
      'uploads',
      [
        { scope: 'per client address', max: w.uploadsPerIpMax, refused: count('uploads', 'address') },
        { scope: 'per tenant', max: w.uploadsPerTenantMax, refused: count('uploads', 'tenant') },
      ],
      LIMITED_RETRY_AFTER_SECONDS,
    );
    this.waiting = new InFlightLimits(
      'open event streams and classic requests',
      [
        { scope: 'per client address', max: w.waitingConnectionsPerIpMax, refused: count('waiting', 'address') },
        { scope: 'per tenant', max: w.waitingConnectionsPerTenantMax, refused: count('waiting', 'tenant') },
        { scope: 'in all', max: w.waitingConnectionsMax, refused: count('waiting', 'all') },
      ],
      LIMITED_RETRY_AFTER_SECONDS,
    );
  }

  /** One upload starts (its body is about to be read); returns its release, or throws 429. */
  startUpload(req: Request, tenant: string): () => void {
    return this.uploads.acquire([clientAddress(req), tenant]);
  }

  /** One connection will be held open for a later answer; returns its release, or throws 429. */
  holdConnection(req: Request, tenant: string): () => void {
    return this.waiting.acquire([clientAddress(req), tenant, '']);
  }
}
