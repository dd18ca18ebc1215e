import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { IcsClient, type UploadAnswer } from '@app/api-client';
import { parseExpected, summarise, type LoadReport, type RequestResult, type StatusSample } from './report';

export interface LoadOptions {
  url: string;
  imagesDir: string;
  expectedFile?: string;
  concurrency: number;
  mode: 'classic' | 'batch';
  limit?: number;
  /** After the last result, how long to keep watching for the fleet to reach zero. */
  scaleInTimeoutMs: number;
  progress: boolean;
  /** batch mode: files per upload (the web tier accepts MAX_FILES, 100 by default). */
  batchSize?: number;
  /** Per-request timeout (classic requests are held until their result). */
  requestTimeoutMs?: number;
  /**
   * classic mode: a steady backlog. Once every file is sent, send them again (named
   * `<pass>-<file>`, so that each request's answer is told apart) until this aborts;
   * requests already sent are still awaited. Absent: each file once.
   */
  sendUntil?: AbortSignal;
}

export interface LoadRun {
  report: LoadReport;
  results: RequestResult[];
  samples: StatusSample[];
}

const IMAGE = /\.(jpe?g|png|webp|gif)$/i;

export function listImages(dir: string, limit?: number): string[] {
  const files = readdirSync(dir)
    .filter((f) => IMAGE.test(f))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (files.length === 0) throw new Error(`no images (jpg, png, webp, gif) in ${dir}`);
  return (limit ? files.slice(0, limit) : files).map((f) => join(dir, f));
}

function blobOf(path: string): Blob {
  return new Blob([readFileSync(path)]);
}

/** Runs the load and samples the service's status until the fleet is back to zero (or the timeout). */
export async function runLoad(o: LoadOptions): Promise<LoadRun> {
  const files = listImages(o.imagesDir, o.limit);
  const expected = o.expectedFile ? parseExpected(JSON.parse(readFileSync(o.expectedFile, 'utf8'))) : undefined;
  const bar = o.progress
    ? new SingleBar({ format: `${o.mode} {bar} {value}/{total} results | {failed} failed | {eta_formatted} left`, stream: process.stderr, noTTYOutput: true, notTTYSchedule: 2000 }, Presets.shades_classic)
    : undefined;
  bar?.start(files.length, 0, { failed: 0 });

  const started = performance.now();
  const sampler = new StatusSampler(`${o.url}/api/status`, started);
  sampler.start();
  const results: RequestResult[] = [];
  const record = (r: RequestResult) => {
    results.push(r);
    bar?.update(results.length, { failed: results.filter((x) => !x.ok).length });
  };
  try {
    if (o.mode === 'classic') await classic(o, files, started, record);
    else await batch(o, files, started, record);
  } finally {
    bar?.stop();
  }
  const wallMs = performance.now() - started;
  await sampler.untilZero(o.scaleInTimeoutMs);
  sampler.stop();
  return { report: summarise(results, wallMs, expected, sampler.samples), results, samples: sampler.samples };
}

/** The `index`th classic request: the files in turn, from the second pass on named `<pass>-<file>`. */
export function classicRequest(files: string[], index: number): { path: string; name: string } {
  const path = files[index % files.length];
  const pass = Math.floor(index / files.length);
  return { path, name: pass === 0 ? basename(path) : `${pass}-${basename(path)}` };
}

async function classic(o: LoadOptions, files: string[], started: number, record: (r: RequestResult) => void): Promise<void> {
  let next = 0;
  const more = () => next < files.length || (o.sendUntil !== undefined && !o.sendUntil.aborted);
  const worker = async () => {
    while (more()) {
      const { path, name } = classicRequest(files, next++);
      const t0 = performance.now();
      try {
        const form = new FormData();
        form.append('myfile', blobOf(path), name);
        const res = await fetch(`${o.url}/`, {
          method: 'POST',
          body: form,
          signal: AbortSignal.timeout(o.requestTimeoutMs ?? 600_000),
        });
        const text = (await res.text()).trim();
        const now = performance.now();
        // The classic answer is `<name without extension>:<label>`.
        const sep = text.indexOf(':');
        if (!res.ok || sep < 0) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
        record({ name, ok: true, label: text.slice(sep + 1), latencyMs: now - t0, doneAtMs: now - started });
      } catch (err) {
        const now = performance.now();
        record({ name, ok: false, error: (err as Error).message, latencyMs: now - t0, doneAtMs: now - started });
      }
    }
  };
  await Promise.all(Array.from({ length: o.sendUntil ? o.concurrency : Math.min(o.concurrency, files.length) }, worker));
}

/**
 * Uploads in batches of at most `batchSize` files (the web tier's MAX_FILES),
 * `concurrency` batches at a time, and follows each batch's event stream.
 */
async function batch(o: LoadOptions, files: string[], started: number, record: (r: RequestResult) => void): Promise<void> {
  const size = o.batchSize ?? 100;
  const chunks: string[][] = [];
  for (let i = 0; i < files.length; i += size) chunks.push(files.slice(i, i + size));
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) await oneBatch(o, chunks[next++], started, record);
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, chunks.length) }, worker));
}

async function oneBatch(o: LoadOptions, files: string[], started: number, record: (r: RequestResult) => void): Promise<void> {
  const t0 = performance.now();
  const failAll = (error: string) => {
    const now = performance.now();
    for (const path of files) record({ name: basename(path), ok: false, error, latencyMs: now - t0, doneAtMs: now - started });
  };
  const client = new IcsClient({ url: o.url });
  let answer: UploadAnswer;
  try {
    answer = await client.uploadImages(files.map((path) => ({ name: basename(path), data: blobOf(path) })));
  } catch (err) {
    return failAll(`upload refused: ${(err as Error).message}`);
  }
  const pending = new Map(answer.images.map((i) => [i.imageId, i.fileName]));
  // Reconnects (with Last-Event-ID) when a stream ends before its `done`.
  for await (const ev of client.followBatch(answer.batchId, { signal: AbortSignal.timeout(o.requestTimeoutMs ?? 600_000) })) {
    if (ev.type === 'done') break;
    const r = ev.result;
    if (!pending.delete(r.imageId)) continue;
    const now = performance.now();
    record({
      name: r.fileName,
      ok: r.status === 'done',
      label: r.label,
      error: r.error?.reason,
      latencyMs: now - t0,
      doneAtMs: now - started,
    });
  }
  for (const [, name] of pending) {
    const now = performance.now();
    record({ name, ok: false, error: 'no result before the event stream ended', latencyMs: now - t0, doneAtMs: now - started });
  }
}

interface StatusBody {
  workers?: { running?: number | null; free?: number | null; pending?: number | null } | null;
  queues?: { launch?: { visible: number; inFlight: number; delayed: number } };
}

/** Polls `/api/status` every 250 ms; a service without it just yields no samples. */
class StatusSampler {
  readonly samples: StatusSample[] = [];
  private timer?: NodeJS.Timeout;
  private inFlight = false;

  constructor(
    private readonly url: string,
    private readonly started: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), 250);
    void this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    try {
      const res = await fetch(this.url, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) return;
      const s = (await res.json()) as StatusBody;
      const w = s.workers;
      if (!w || w.running === null || w.running === undefined) return;
      const q = s.queues?.launch;
      this.samples.push({
        t: performance.now() - this.started,
        running: w.running ?? 0,
        free: w.free ?? 0,
        pending: w.pending ?? 0,
        queued: q ? q.visible + q.inFlight + q.delayed : 0,
      });
    } catch {
      // a missed sample is not an error of the run
    } finally {
      this.inFlight = false;
    }
  }

  /** Waits until a sample taken from now on shows no workers alive, or the timeout. */
  async untilZero(timeoutMs: number): Promise<void> {
    const from = performance.now() - this.started;
    const end = Date.now() + timeoutMs;
    const noStatusBy = Date.now() + 2000;
    while (Date.now() < end) {
      const fresh = this.samples.filter((s) => s.t >= from);
      if (fresh.length === 0 && this.samples.length === 0 && Date.now() > noStatusBy) return; // no status endpoint
      if (fresh.some((s) => s.running + s.pending === 0)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
