import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, IcsClient, isConnectionError } from '@app/api-client';
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

export type ClassicOutcome = { kind: 'answered'; label: string; ms: number } | { kind: 'refused'; status: number; body: string; ms: number } | { kind: 'cut'; error: string; ms: number };


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
  /** Classic requests sent again after the service said it could not take them (502, 503, 429). */
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
   * (`name:label`). Sent again while the service answers that it could not
   * take it (502, 503, 429: nothing was stored or queued), as a user would.
   */
  async classic(file: string, timeoutMs: number): Promise<ClassicOutcome> {
    const t0 = performance.now();
    try {
      let res: Response;
      for (;;) {
        const form = new FormData();
        form.append('myfile', new Blob([readFileSync(file)]), basename(file));
        res = await fetch(`${this.url}/`, { method: 'POST', body: form, signal: AbortSignal.timeout(Math.max(1, Math.floor(timeoutMs - (performance.now() - t0)))) });
        if (![502, 503, 429].includes(res.status) || performance.now() - t0 > timeoutMs - 1000) break;
        await res.body?.cancel();
        this.classicRetries += 1;
        await sleep(this.retryPauseMs * 2);
      }
      const body = await res.text();
      const ms = performance.now() - t0;
      if (res.status !== 200) return { kind: 'refused', status: res.status, body, ms };
      const colon = body.indexOf(':');
      return { kind: 'answered', label: body.slice(colon + 1).trim(), ms };
    } catch (err) {
      return { kind: 'cut', error: String((err as Error & { cause?: unknown }).cause ?? err), ms: performance.now() - t0 };
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
