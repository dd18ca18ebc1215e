import type { Writable } from 'node:stream';
import type { BatchSummary, ExportFormat, IcsClient } from '@app/api-client';
import { exportFormatOf } from '../classify/classify';
import { writeExport } from '../export-file';

interface Io {
  stdout: Writable;
  stderr: Writable;
  signal?: AbortSignal;
}

function line(b: BatchSummary): string {
  const state = b.finished ? 'finished' : b.closed === false ? 'open' : 'running';
  const counts = `${b.done}/${b.total} done${b.failed ? `, ${b.failed} failed` : ''}`;
  return [b.batchId, b.createdAt ?? '', state.padEnd(8), counts, b.label ?? ''].join('  ').trimEnd();
}

/** `ics batches`: one line per batch, newest first; the next page's cursor at the end. */
export async function listBatches(client: IcsClient, opts: { limit: number; cursor?: string; all?: boolean; json?: boolean }, io: Io): Promise<void> {
  let cursor = opts.cursor;
  do {
    const page = await client.listBatches({ limit: opts.limit, cursor }, { signal: io.signal });
    if (opts.json) io.stdout.write(`${JSON.stringify(page)}\n`);
    else for (const b of page.batches) io.stdout.write(`${line(b)}\n`);
    cursor = page.nextCursor;
    if (cursor && !opts.all && !opts.json) io.stderr.write(`more: ics batches --cursor ${cursor}\n`);
  } while (cursor && opts.all);
}

/** `ics results <batch>`: the export, streamed to stdout or written to --out (complete or not at all). */
export async function showResults(client: IcsClient, batchId: string, opts: { format?: ExportFormat; out?: string }, io: Io): Promise<void> {
  const format = opts.format ?? exportFormatOf(opts.out);
  const body = await client.exportResults(batchId, format, { signal: io.signal });
  await writeExport(body, opts.out, io.stdout, io.signal);
  if (!opts.out) return;
  io.stderr.write(`results of ${batchId} → ${opts.out}\n`);
}

/** `ics delete <batch>`. */
export async function deleteBatch(client: IcsClient, batchId: string, io: Io): Promise<void> {
  await client.deleteBatch(batchId, { signal: io.signal });
  io.stderr.write(`deleted batch ${batchId}\n`);
}
