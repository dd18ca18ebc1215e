import { randomUUID } from 'node:crypto';
import { basename, extname } from 'node:path';
import type { Writable } from 'node:stream';
import type { TimeoutsOptions } from 'retry';
import type { ExportFormat, IcsClient, ImageResult } from '@app/api-client';
import { EXIT, UsageError } from '@app/command-line';
import { writeExport } from '../export-file';
import { ChunkUploader, type Refusal } from './chunk-uploader';
import { listInputs } from './inputs';
import type { ClassifyProgress } from './progress';
import { withRetry } from './retrying';
import { RunState, statePathFor } from './run-state';

export interface ClassifyOptions {
  inputs: string[];
  /** results.csv or results.json; without it the CSV goes to stdout (and an interrupted run cannot resume). */
  out?: string;
  batchSize: number;
  concurrency: number;
}

export interface ClassifyDeps {
  client: IcsClient;
  progress: ClassifyProgress;
  /** Where the export goes when there is no --out. */
  stdout: Writable;
  signal?: AbortSignal;
  backoff?: TimeoutsOptions;
  /** Wait before reopening an event stream that ended early (the server's `retry:` overrides it). */
  followRetryMs?: number;
}

export interface ClassifyOutcome {
  code: number;
  batchId: string;
  labelled: number;
  total: number;
  /** One line per image without a label, and why. */
  problems: string[];
}

export function exportFormatOf(out: string | undefined): ExportFormat {
  if (out === undefined) return 'csv';
  const ext = extname(out).toLowerCase();
  if (ext === '.csv' || ext === '.json') return ext.slice(1) as ExportFormat;
  throw new UsageError(`--out must end in .csv or .json (got ${out})`);
}

/**
 * `ics classify`: one batch for all the files, uploaded in chunks, closed,
 * followed to its `done`, exported. Every step is recorded in the run state
 * next to --out first, so an interrupted run, started again, goes on from
 * where it stopped: same batch, no file uploaded twice.
 */
export async function classify(o: ClassifyOptions, d: ClassifyDeps): Promise<ClassifyOutcome> {
  const format = exportFormatOf(o.out);
  const files = listInputs(o.inputs);
  const statePath = o.out ? statePathFor(o.out) : undefined;
  const { client, progress, signal } = d;

  let state = RunState.load(statePath, client.url);
  if (state) {
    progress.log(`resuming batch ${state.batchId} (${state.uploadedCount} of ${files.length} files uploaded before)`);
  } else {
    // One key for every try: a retried create whose first answer was lost does not leave a second batch.
    const create = { signal, idempotencyKey: `ics-create-${randomUUID()}` };
    const label = `ics classify ${o.inputs.map((p) => basename(p)).join(' ')}`.slice(0, 200);
    const batch = await withRetry(() => client.createBatch({ label }, create), { backoff: d.backoff, signal });
    state = RunState.create(statePath, client.url, batch.batchId, o.batchSize);
  }
  const run = state;

  progress.start(files.length, run.uploadedCount);
  const refused: Refusal[] = [];
  const results = new Map<string, ImageResult>();
  try {
    const pending = files.filter((f) => !run.uploaded(f));
    if (!run.closed) {
      const before = run.uploadedCount;
      const uploader = new ChunkUploader(client, run, {
        concurrency: o.concurrency,
        signal,
        backoff: d.backoff,
        onAccepted: (n) => progress.uploaded(before + n),
        log: (line) => progress.log(line),
      });
      refused.push(...(await uploader.uploadAll(pending)));
      await withRetry(() => client.closeBatch(run.batchId, { signal }), { backoff: d.backoff, signal });
      run.markClosed();
    } else {
      refused.push(...pending.map((path) => ({ path, reason: 'not uploaded before the batch was closed' })));
    }

    const expected = new Set(run.imageIds());
    for await (const ev of client.followBatch(run.batchId, { signal, retryMs: d.followRetryMs, maxFailures: 10 })) {
      if (ev.type === 'done') break;
      if (!expected.has(ev.result.imageId) || ev.result.status === 'queued') continue;
      results.set(ev.result.imageId, ev.result);
      progress.answered(results.size);
    }

    const body = await withRetry(() => client.exportResults(run.batchId, format, { signal }), { backoff: d.backoff, signal });
    await writeExport(body, o.out, d.stdout, signal);
  } finally {
    progress.stop();
  }
  run.remove();
  return summarise(run, files, results, refused);
}

function summarise(run: RunState, files: string[], results: Map<string, ImageResult>, refused: Refusal[]): ClassifyOutcome {
  const problems: string[] = [];
  let labelled = 0;
  for (const path of files) {
    const up = run.uploaded(path);
    if (!up) continue;
    const r = results.get(up.imageId);
    if (r?.status === 'done') labelled++;
    else if (r?.status === 'error') problems.push(`${path}: ${r.error?.permanent ? 'cannot be classified' : 'gave up'}: ${r.error?.reason ?? 'error'}`);
    else problems.push(`${path}: no result`);
  }
  for (const r of refused) problems.push(`${r.path}: not uploaded: ${r.reason}`);
  return { code: labelled === files.length ? EXIT.done : EXIT.goalFailed, batchId: run.batchId, labelled, total: files.length, problems };
}
