import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, IcsClient, isConnectionError, parseRetryAfter } from '@app/api-client';
import type { Answer } from './ledger';

/** An image's result as the REST API and the event stream show it. */
export interface ImageView {
  imageId: string;
  fileName: string;
  status: 'queued' | 'done' | 'error';
  label?: string;
  attempts?: number;
  producedBy?: string;
}

export interface BatchView {
  finished: boolean;
  images: ImageView[];
}

export interface Accepted {
  batchId: string;
  images: { imageId: string; fileName: string }[];
  /** Files the service could not take this time (storage or the queue failed for them). */
  failed?: { fileName: string; reason: string }[];
}

/**
 * How a classic request ended; `imageId` is the image the service named in its
 * `Image-Id` header (on any try), absent when no answer ever named one.
 */
export type ClassicOutcome = ({ kind: 'answered'; label: string } | { kind: 'refused'; status: number; body: string } | { kind: 'cut'; error: string }) & {
  ms: number;
  imageId?: string;
};

/**
 * A classic answer that says the request may not have been taken, or was cut
 * on its way back: worth sending again with the same Idempotency-Key (which
 * makes the service answer for the image it stored first, if it stored one).
 * A 502 naming an image is the service's own answer (classification failed
 * after every attempt); one naming none came from the balancer in front of a
 * dead tier.
 */
export function isClassicRetryable(status: number, imageId: string | null): boolean {
  if (status === 502) return imageId === null;
  return status === 503 || status === 429 || status === 409;
}


export function answerOfView(v: ImageView): Answer | undefined {
  if (v.status === 'queued') return undefined;
  return { status: v.status === 'done' ? 'ok' : 'error', label: v.label, attempt: v.attempts, producedBy: v.producedBy };
}

/**
 * The service as its users reach it: uploads, classic requests, the REST API
 * and the event stream, each tolerant of the web tier being down for a while
 * (a user retries an upload that was refused or never reached it).
 */
export class ServiceClient {
  private readonly api: IcsClient;

  /** `retryPauseMs`: the wait before sending again (a test makes it 0). */
  constructor(
    readonly url: string,
    private readonly retryPauseMs = 500,
  ) {
    this.api = new IcsClient({ url });
  }

  /** Uploads sent again after a cut connection or a transient answer, and files sent again after a partial failure. */
  uploadRetries = 0;
  /** Classic requests sent again with their Idempotency-Key (see classic()). */
  classicRetries = 0;

  /**
   * Uploads every file until the service has taken each one: the files a
   * partial answer names as failed go again, in an upload of their own (a new
   * request, so a new Idempotency-Key). One answer per upload made.
   */
  async uploadAll(files: string[], deadline: number): Promise<Accepted[]> {
    const answers: Accepted[] = [];
    let left = files;
    while (left.length > 0) {
      const answer = await this.upload(left, deadline);
      answers.push(answer);
      const failed = new Set((answer.failed ?? []).map((f) => f.fileName));
      left = left.filter((f) => failed.has(basename(f)));
      if (left.length === 0) break;
      if (Date.now() > deadline) throw new Error(`upload: ${left.length} file(s) never taken before the deadline`);
      this.uploadRetries += 1;
      await sleep(this.retryPauseMs);
    }
    return answers;
  }

  /**
   * POST /api/images with an Idempotency-Key, sent again with the same key
   * whenever the connection was cut or the answer was transient (a tier
   * killed mid-upload, 502 from the balancer, 503 in a brownout, 409 while the
   * first try is still in flight): the service answers it once, whatever
   * tier each try reaches.
   */
  async upload(files: string[], deadline: number): Promise<Accepted> {
    const idempotencyKey = randomUUID();
    for (;;) {
      let waitMs = this.retryPauseMs;
      try {
        return await this.api.uploadImages(
          files.map((f) => ({ name: basename(f), data: new Blob([readFileSync(f)]) })),
          { idempotencyKey },
        );
      } catch (err) {
        const again = isConnectionError(err) || (err instanceof ApiError && err.transient);
        if (!again) throw new Error(`upload refused: ${(err as Error).message}`);
        if (err instanceof ApiError && err.retryAfterMs !== undefined) waitMs = Math.min(5000, err.retryAfterMs);
      }
      if (Date.now() > deadline) throw new Error('upload: the service did not accept it before the deadline');
      this.uploadRetries += 1;
      await sleep(waitMs);
    }
  }

  /**
   * The classic request: one file as `myfile`, held until its result
   * (`name:label`), with an Idempotency-Key of its own. Sent again with that
   * key while the service answers that it could not take it or is still taking
   * it (503, 429, 409), when the balancer answers 502 for a tier that died
   * holding it, or when the connection is cut, as a user would: the service
   * then stores nothing new and answers for the image it stored first.
   */
  async classic(file: string, timeoutMs: number): Promise<ClassicOutcome> {
    const t0 = performance.now();
    const ms = () => performance.now() - t0;
    const idempotencyKey = randomUUID();
    const bytes = readFileSync(file);
    let imageId: string | undefined;
    for (;;) {
      const outcome = await this.classicTry(file, bytes, idempotencyKey, Math.max(1, Math.floor(timeoutMs - ms())));
      imageId = outcome.imageId ?? imageId;
      const timeLeft = ms() <= timeoutMs - 1000;
      if (!timeLeft || !outcome.retry) {
        const end = { ms: ms(), ...(imageId !== undefined && { imageId }) };
        return { ...outcome.result, ...end };
      }
      this.classicRetries += 1;
      await sleep(Math.min(5000, outcome.retryAfterMs ?? this.retryPauseMs * 2));
    }
  }

  /** One try of a classic request: how it ended, the image it named, and whether to send it again. */
  private async classicTry(
    file: string,
    bytes: Buffer,
    idempotencyKey: string,
    timeoutMs: number,
  ): Promise<{ result: { kind: 'answered'; label: string } | { kind: 'refused'; status: number; body: string } | { kind: 'cut'; error: string }; imageId?: string; retry: boolean; retryAfterMs?: number }> {
    let named: string | null = null;
    try {
      const form = new FormData();
      form.append('myfile', new Blob([new Uint8Array(bytes)]), basename(file));
      const res = await fetch(`${this.url}/`, { method: 'POST', headers: { 'Idempotency-Key': idempotencyKey }, body: form, signal: AbortSignal.timeout(timeoutMs) });
      named = res.headers.get('image-id');
      const imageId = named ?? undefined;
      if (isClassicRetryable(res.status, named)) {
        await res.body?.cancel();
        return { result: { kind: 'refused', status: res.status, body: '' }, imageId, retry: true, retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), Date.now()) };
      }
      const body = await res.text();
      if (res.status !== 200) return { result: { kind: 'refused', status: res.status, body }, imageId, retry: false };
      return { result: { kind: 'answered', label: body.slice(body.indexOf(':') + 1).trim() }, imageId, retry: false };
    } catch (err) {
      // Cut (the tier died holding it): sent again; our own timeout ends the request.
      return { result: { kind: 'cut', error: String((err as Error & { cause?: unknown }).cause ?? err) }, imageId: named ?? undefined, retry: isConnectionError(err) };
    }
  }

  batch(batchId: string): Promise<BatchView | undefined> {
    return this.orUndefined(() => this.api.getBatch(batchId, { signal: AbortSignal.timeout(10_000) }));
  }

  image(imageId: string): Promise<ImageView | undefined> {
    return this.orUndefined(() => this.api.getImage(imageId, { signal: AbortSignal.timeout(10_000) }));
  }

  /** The answer, or undefined when the web tier is down or says no (a restarting tier is expected). */
  private async orUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch {
      return undefined;
    }
  }

  /**
   * Follows a batch's event stream until its `done` event, opening it again
   * whenever the connection drops or the tier is away (with Last-Event-ID
   * while the same stream log lasts; results already known come first).
   */
  async followEvents(batchId: string, onResult: (v: ImageView) => void, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        for await (const ev of this.api.followBatch(batchId, { signal, retryMs: 500, maxFailures: Infinity })) {
          if (ev.type === 'done') return;
          onResult(ev.result);
        }
      } catch {
        // the tier was away or answered an error while restarting: open the stream again
      }
      await sleep(500);
    }
  }
}
