import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { readEvents } from '@tools/loadgen';
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
}

export type ClassicOutcome = { kind: 'answered'; label: string; ms: number } | { kind: 'refused'; status: number; body: string; ms: number } | { kind: 'cut'; error: string; ms: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  constructor(readonly url: string) {}

  /** POST /api/images; retried while the web tier is unreachable or answers 503. */
  async upload(files: string[], deadline: number): Promise<Accepted> {
    for (;;) {
      try {
        const form = new FormData();
        for (const f of files) form.append('images', new Blob([readFileSync(f)]), basename(f));
        const res = await fetch(`${this.url}/api/images`, { method: 'POST', body: form });
        if (res.status === 202) return (await res.json()) as Accepted;
        const body = await res.text();
        if (res.status !== 503 && res.status !== 502) throw new Error(`upload refused: HTTP ${res.status} ${body}`);
      } catch (err) {
        if ((err as Error).message.startsWith('upload refused')) throw err;
      }
      if (Date.now() > deadline) throw new Error('upload: the web tier did not accept it before the deadline');
      await sleep(500);
    }
  }

  /** The classic request: one file as `myfile`, held until its result (`name:label`). */
  async classic(file: string, timeoutMs: number): Promise<ClassicOutcome> {
    const t0 = performance.now();
    try {
      const form = new FormData();
      form.append('myfile', new Blob([readFileSync(file)]), basename(file));
      const res = await fetch(`${this.url}/`, { method: 'POST', body: form, signal: AbortSignal.timeout(timeoutMs) });
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
    return this.getJson<BatchView>(`/api/batches/${batchId}`);
  }

  image(imageId: string): Promise<ImageView | undefined> {
    return this.getJson<ImageView>(`/api/images/${imageId}`);
  }

  /** A JSON answer, or undefined when the web tier is down or says no (a restarting tier is expected). */
  private async getJson<T>(path: string): Promise<T | undefined> {
    try {
      const res = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(10_000) });
      return res.ok ? ((await res.json()) as T) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Follows a batch's event stream until its `done` event, opening it again
   * whenever the connection drops (results already known are sent first).
   */
  async followEvents(batchId: string, onResult: (v: ImageView) => void, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const res = await fetch(`${this.url}/api/batches/${batchId}/events`, { headers: { accept: 'text/event-stream' }, signal });
        if (res.ok && res.body) {
          for await (const ev of readEvents(res.body)) {
            if (ev.event === 'done') return;
            if (ev.event === 'result') onResult(JSON.parse(ev.data) as ImageView);
          }
        }
      } catch {
        // the web tier went away: open the stream again when it is back
      }
      await sleep(500);
    }
  }
}
