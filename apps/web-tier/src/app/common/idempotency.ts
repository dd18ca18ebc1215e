import { createHash } from 'node:crypto';
import { BadRequestException, ConflictException, Injectable, Logger, UnprocessableEntityException } from '@nestjs/common';
import { AwsResources, NotFoundError } from '@app/aws';
import { idempotencyKey } from '@app/contracts';

export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** The `Idempotency-Key` header, for OpenAPI. */
export const IDEMPOTENCY_HEADER_DOC = {
  name: 'Idempotency-Key',
  required: false,
  description:
    'Makes a retry safe: a retry with the same key and the same request gets the first answer (same ids, same status) ' +
    'for at least 24 h from any web tier; the same key with a different request is 422; while the first is still in ' +
    'progress, 409 with Retry-After.',
};

/** A claim older than this whose request never finished (its tier died) is taken over by a retry. */
export const PENDING_TAKEOVER_MS = 60_000;
/** What a retry that finds the first request still running is told to wait (s). */
const RETRY_AFTER_SECONDS = 2;

/** The first answer to a keyed request: replayed to every retry with the same body. */
export interface StoredAnswer<T = unknown> {
  statusCode: number;
  body: T;
}

interface IdempotencyRecord {
  v: 1;
  requestHash: string;
  state: 'pending' | 'done';
  startedAt: number;
  answer?: StoredAnswer;
}

/** The first request of its key: it must finish (store its answer) or abandon (let a retry try again). */
export interface IdempotencyClaim {
  finish(answer: StoredAnswer): Promise<void>;
  abandon(): Promise<void>;
}

export type IdempotencyOutcome<T> = { kind: 'first'; claim: IdempotencyClaim } | { kind: 'replay'; answer: StoredAnswer<T> };

/** An `Idempotency-Key` header's value, checked: 1–255 visible ASCII characters. Undefined when absent. */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (!/^[\x21-\x7e]{1,255}$/.test(value ?? '')) throw new BadRequestException('Idempotency-Key must be 1 to 255 visible ASCII characters');
  return value;
}

/** The hash a keyed request is recognised by: its route and whatever of its body makes it what it is. */
export function requestHash(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/**
 * `Idempotency-Key` records: one S3 object per tenant and key in the output
 * bucket, created with If-None-Match so that exactly one request of a key
 * wins from whichever web tier, holding the request's hash and, once it has
 * one, its answer. A retry with the same body gets the stored answer; with a
 * different body 422; while the first still runs 409 with Retry-After. A
 * first request that fails without an answer removes its claim (a transient
 * failure must not become the key's permanent answer); one whose tier died is
 * taken over after PENDING_TAKEOVER_MS.
 */
@Injectable()
export class IdempotencyStore {
  private readonly logger = new Logger(IdempotencyStore.name);

  constructor(private readonly aws: AwsResources) {}

  async begin<T>(tenant: string, key: string, hash: string, now: () => number = Date.now): Promise<IdempotencyOutcome<T>> {
    const objectKey = idempotencyKey(tenant, createHash('sha256').update(key).digest('hex'));
    for (let tries = 0; tries < 5; tries++) {
      const record: IdempotencyRecord = { v: 1, requestHash: hash, state: 'pending', startedAt: now() };
      if ((await this.aws.outputBucket.putIfAbsent(objectKey, JSON.stringify(record), { contentType: 'application/json' })) === 'created') {
        return { kind: 'first', claim: this.claim(objectKey, record) };
      }
      const found = await this.read(objectKey);
      if (!found) continue; // abandoned between our write and our read: try again
      if (found.requestHash !== hash) {
        throw new UnprocessableEntityException('Idempotency-Key was used for a different request: send a new key for a new request');
      }
      if (found.state === 'done' && found.answer) return { kind: 'replay', answer: found.answer as StoredAnswer<T> };
      if (now() - found.startedAt > PENDING_TAKEOVER_MS && tries === 0) {
        this.logger.warn(`an Idempotency-Key claim of tenant ${tenant} was left unfinished for ${Math.round((now() - found.startedAt) / 1000)} s: taken over`);
        await this.aws.outputBucket.delete(objectKey);
        continue;
      }
      throw new ConflictException({
        message: 'a request with this Idempotency-Key is still in progress: retry after a moment',
        retryAfterSeconds: RETRY_AFTER_SECONDS,
      });
    }
    throw new ConflictException({ message: 'the Idempotency-Key record keeps changing: retry after a moment', retryAfterSeconds: RETRY_AFTER_SECONDS });
  }

  private claim(objectKey: string, record: IdempotencyRecord): IdempotencyClaim {
    return {
      finish: async (answer) => {
        await this.aws.outputBucket.put(objectKey, JSON.stringify({ ...record, state: 'done', answer }), { contentType: 'application/json' });
      },
      abandon: async () => {
        await this.aws.outputBucket.delete(objectKey).catch((err: Error) => this.logger.warn(`could not remove an abandoned Idempotency-Key claim: ${err.message}`));
      },
    };
  }

  private async read(objectKey: string): Promise<IdempotencyRecord | undefined> {
    try {
      return JSON.parse((await this.aws.outputBucket.getBuffer(objectKey)).toString('utf8')) as IdempotencyRecord;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }
}
