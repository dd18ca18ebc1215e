import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { UsageError } from '@app/command-line';

/** Where a run keeps what it has done: next to its output file. */
export function statePathFor(out: string): string {
  return `${out}.ics-state.json`;
}

export interface UploadedFile {
  imageId: string;
  fileName: string;
}

interface StateFile {
  version: 1;
  url: string;
  batchId: string;
  batchSize: number;
  closed: boolean;
  /** Absolute path of each file the server accepted → the image id it gave. */
  uploaded: Record<string, UploadedFile>;
}

/**
 * What a classify run has done so far, written after each step (batch
 * created, chunk accepted, batch closed), so a rerun after an interruption
 * continues where it stopped and uploads no file twice. Without an output
 * file it lives in memory only.
 */
export class RunState {
  private constructor(
    private readonly path: string | undefined,
    private readonly data: StateFile,
  ) {}

  /** The state of an earlier run of the same command, if one was interrupted. */
  static load(path: string | undefined, url: string): RunState | undefined {
    if (!path || !existsSync(path)) return undefined;
    let data: StateFile;
    try {
      data = JSON.parse(readFileSync(path, 'utf8')) as StateFile;
    } catch (err) {
      throw new UsageError(`cannot read ${path} (${(err as Error).message}): delete it to start over`);
    }
    if (data.version !== 1 || typeof data.batchId !== 'string' || typeof data.uploaded !== 'object') {
      throw new UsageError(`${path} is not an ics state file: delete it to start over`);
    }
    if (data.url !== url) throw new UsageError(`${path} belongs to a run against ${data.url}: use that --url, or delete it to start over`);
    return new RunState(path, data);
  }

  static create(path: string | undefined, url: string, batchId: string, batchSize: number): RunState {
    const state = new RunState(path, { version: 1, url, batchId, batchSize, closed: false, uploaded: {} });
    state.save();
    return state;
  }

  get batchId(): string {
    return this.data.batchId;
  }

  /** The chunk size of the run that started the batch: the same chunks give the same idempotency keys. */
  get batchSize(): number {
    return this.data.batchSize;
  }

  get closed(): boolean {
    return this.data.closed;
  }

  uploaded(file: string): UploadedFile | undefined {
    return this.data.uploaded[file];
  }

  get uploadedCount(): number {
    return Object.keys(this.data.uploaded).length;
  }

  imageIds(): string[] {
    return Object.values(this.data.uploaded).map((u) => u.imageId);
  }

  recordUploads(files: { path: string; image: UploadedFile }[]): void {
    for (const f of files) this.data.uploaded[f.path] = f.image;
    this.save();
  }

  markClosed(): void {
    this.data.closed = true;
    this.save();
  }

  /** The run is complete: nothing left to resume. */
  remove(): void {
    if (this.path) rmSync(this.path, { force: true });
  }

  private save(): void {
    if (!this.path) return;
    // Write then rename: an interruption mid-write leaves the previous state, never half a file.
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data, null, 2) + '\n');
    renameSync(tmp, this.path);
  }
}
