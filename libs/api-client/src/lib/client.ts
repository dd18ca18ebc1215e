import { ApiError } from './errors';
import { followSse, type FollowOptions } from './follow';
import type { Batch, BatchDone, BatchEvent, BatchPage, BatchSummary, ExportFormat, ImageResult, NewBatch, ServiceStatus, UploadAnswer, UploadFile } from './types';

export const API_KEY_HEADER = 'x-api-key';
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

export interface ClientOptions {
  /** The web tier's base URL, e.g. `http://127.0.0.1:3000`; '' for the page's own origin. */
  url: string;
  apiKey?: string;
  /** Injected for tests and for environments with their own fetch. */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Same key and same body → the server's first answer again (a retry never uploads twice). */
  idempotencyKey?: string;
}

/**
 * A typed client for the web tier's HTTP API (fetch-based: Node 18+ and
 * browsers). Every non-2xx answer becomes an ApiError carrying the server's
 * `{statusCode, error, message}` and its Retry-After; retrying is the
 * caller's choice (ApiError.transient says when it makes sense).
 */
export class IcsClient {
  readonly url: string;
  private readonly apiKey?: string;
  private readonly doFetch: typeof fetch;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.apiKey = options.apiKey || undefined;
    // Bound: a browser's fetch must be called on window.
    this.doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** The headers every request carries (the API key). */
  headers(): Record<string, string> {
    return this.apiKey ? { [API_KEY_HEADER]: this.apiKey } : {};
  }

  createBatch(body: NewBatch = {}, options: RequestOptions = {}): Promise<BatchSummary> {
    return this.json('POST', '/api/batches', 'create batch', { json: body, ...options });
  }

  /** Adds images to an open batch (multipart field `images`); 409 once it is closed. */
  addImages(batchId: string, files: UploadFile[], options: RequestOptions = {}): Promise<UploadAnswer> {
    return this.json('POST', `/api/batches/${enc(batchId)}/images`, 'upload', { form: imagesForm(files), ...options });
  }

  /** Uploads images as a new batch, closed at once. */
  uploadImages(files: UploadFile[], options: RequestOptions = {}): Promise<UploadAnswer> {
    return this.json('POST', '/api/images', 'upload', { form: imagesForm(files), ...options });
  }

  closeBatch(batchId: string, options: RequestOptions = {}): Promise<Batch> {
    return this.json('POST', `/api/batches/${enc(batchId)}/close`, 'close batch', options);
  }

  listBatches(page: { limit?: number; cursor?: string } = {}, options: RequestOptions = {}): Promise<BatchPage> {
    const q = new URLSearchParams();
    if (page.limit !== undefined) q.set('limit', String(page.limit));
    if (page.cursor) q.set('cursor', page.cursor);
    const query = q.toString();
    return this.json('GET', `/api/batches${query ? `?${query}` : ''}`, 'list batches', options);
  }

  getBatch(batchId: string, options: RequestOptions = {}): Promise<Batch> {
    return this.json('GET', `/api/batches/${enc(batchId)}`, 'batch', options);
  }

  getImage(imageId: string, options: RequestOptions = {}): Promise<ImageResult> {
    return this.json('GET', `/api/images/${enc(imageId)}`, 'image', options);
  }

  status(options: RequestOptions = {}): Promise<ServiceStatus> {
    return this.json('GET', '/api/status', 'status', options);
  }

  async deleteBatch(batchId: string, options: RequestOptions = {}): Promise<void> {
    const res = await this.send('DELETE', `/api/batches/${enc(batchId)}`, options);
    if (!res.ok) throw await ApiError.from(res, 'delete batch');
    await res.body?.cancel();
  }

  /** The export as a stream (any size): read `body` and pipe it where it goes. */
  async exportResults(batchId: string, format: ExportFormat = 'json', options: RequestOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const res = await this.send('GET', `/api/batches/${enc(batchId)}/results?format=${format}`, options);
    if (!res.ok || !res.body) throw await ApiError.from(res, 'export');
    return res.body;
  }

  /**
   * The batch's results as they come, then its `done`: every result already
   * known first, reconnecting with Last-Event-ID whenever a stream ends early.
   */
  async *followBatch(batchId: string, options: Omit<FollowOptions, 'headers' | 'fetch'> = {}): AsyncGenerator<BatchEvent> {
    const url = `${this.url}/api/batches/${enc(batchId)}/events`;
    for await (const ev of followSse(url, { ...options, headers: this.headers(), fetch: this.doFetch })) {
      if (ev.event === 'result') yield { type: 'result', result: JSON.parse(ev.data) as ImageResult, id: ev.id };
      else if (ev.event === 'done') yield { type: 'done', summary: JSON.parse(ev.data) as BatchDone };
    }
  }

  private async json<T>(method: string, path: string, what: string, options: RequestOptions & { json?: unknown; form?: FormData }): Promise<T> {
    const res = await this.send(method, path, options);
    if (!res.ok) throw await ApiError.from(res, what);
    return (await res.json()) as T;
  }

  private send(method: string, path: string, options: RequestOptions & { json?: unknown; form?: FormData }): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...this.headers() };
    if (options.idempotencyKey) headers[IDEMPOTENCY_KEY_HEADER] = options.idempotencyKey;
    let body: string | FormData | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.form) {
      body = options.form; // fetch writes the multipart boundary itself
    }
    return this.doFetch(`${this.url}${path}`, { method, headers, body, signal: options.signal });
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function imagesForm(files: UploadFile[]): FormData {
  const form = new FormData();
  for (const f of files) form.append('images', f.data, f.name);
  return form;
}
