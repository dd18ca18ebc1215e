import { HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { AppConfig } from '@app/config';
import { errorBody } from '../common/http-error.filter';
import { ResultsStore } from '../results/results.store';

/** Images drain at the fleet's pace: a refused upload is worth trying again after this long. */
export const IMAGES_IN_FLIGHT_RETRY_AFTER_SECONDS = 10;

/** Room taken for one upload's images until they are sent (then each counts by its id) or the upload fails. */
export interface ImagesRoom {
  /** These images were accepted: each counts until its answer is known here. */
  hold(imageIds: string[]): void;
  /** Gives back the room (any not held). Safe to call more than once. */
  release(): void;
}

/**
 * `TENANT_MAX_IMAGES_IN_FLIGHT`: how many images a tenant may have accepted
 * and not yet answered. Counted per web tier, for the uploads this tier took:
 * an image counts from its upload until this tier's results store holds its
 * answer (every tier hears every result), or forgets it (the store is
 * bounded). Behind N tiers a tenant may so hold up to N × the limit; a shared
 * count would cost a conditional write per upload. An upload that would pass
 * the limit gets 429 with `Retry-After`, and nothing of it is stored or queued.
 */
@Injectable()
export class TenantImagesInFlight {
  private readonly max: number;
  /** Accepted image ids per tenant, possibly already answered: pruned when the count matters. */
  private readonly held = new Map<string, Set<string>>();
  /** Images of uploads being taken now (stored, not yet sent), per tenant. */
  private readonly reserved = new Map<string, number>();

  constructor(config: AppConfig, private readonly results: ResultsStore) {
    this.max = config.web.tenantMaxImagesInFlight;
  }

  /** Images of the tenant accepted and not yet answered, with those being taken now. */
  count(tenant: string): number {
    this.prune(tenant);
    return (this.held.get(tenant)?.size ?? 0) + (this.reserved.get(tenant) ?? 0);
  }

  /** Throws 429 when `images` more would pass the tenant's limit (before any byte of an upload is read). */
  check(tenant: string, images = 1): void {
    // Counting is cheap while far from the limit: prune only near it.
    const rough = (this.held.get(tenant)?.size ?? 0) + (this.reserved.get(tenant) ?? 0);
    if (rough + images <= this.max) return;
    const now = this.count(tenant);
    if (now + images > this.max) throw this.refusal(tenant, now, images);
  }

  /** Takes room for an upload's `images`, or throws 429. */
  reserve(tenant: string, images: number): ImagesRoom {
    this.check(tenant, images);
    this.reserved.set(tenant, (this.reserved.get(tenant) ?? 0) + images);
    let left = images;
    const give = (n: number) => {
      left -= n;
      const r = (this.reserved.get(tenant) ?? 0) - n;
      if (r > 0) this.reserved.set(tenant, r);
      else this.reserved.delete(tenant);
    };
    return {
      hold: (imageIds) => {
        let ids = this.held.get(tenant);
        if (!ids) this.held.set(tenant, (ids = new Set()));
        for (const id of imageIds) ids.add(id);
        give(Math.min(left, imageIds.length));
      },
      release: () => give(left),
    };
  }

  /** Drops the ids whose answer this tier knows, or which its results store no longer holds. */
  private prune(tenant: string): void {
    const ids = this.held.get(tenant);
    if (!ids) return;
    for (const id of ids) {
      if (this.results.image(id)?.status !== 'queued') ids.delete(id);
    }
    if (ids.size === 0) this.held.delete(tenant);
  }

  private refusal(tenant: string, inFlight: number, images: number): HttpException {
    const message =
      `tenant "${tenant}" has ${inFlight} image(s) accepted and not yet answered; ${images} more would pass its limit of ` +
      `${this.max} (TENANT_MAX_IMAGES_IN_FLIGHT): nothing was stored; try again in ${IMAGES_IN_FLIGHT_RETRY_AFTER_SECONDS} s`;
    return new HttpException(
      errorBody(HttpStatus.TOO_MANY_REQUESTS, message, {
        reason: 'tenant-images-in-flight',
        imagesInFlight: inFlight,
        limit: this.max,
        retryAfterSeconds: IMAGES_IN_FLIGHT_RETRY_AFTER_SECONDS,
      }),
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}
