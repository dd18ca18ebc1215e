import { copyFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SMALL_IMAGES_DIR } from '@tools/testing';
import type { ClassifyProgress } from '../src/classify/progress';
import { runCli, type CliIo } from '../src/program';

/** Collects what a stream was given, as text. */
export class TextSink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Keeps the last counts and every log line, in place of the terminal bars. */
export class RecordingProgress implements ClassifyProgress {
  total = 0;
  uploadedCount = 0;
  answeredCount = 0;
  lines: string[] = [];
  start(total: number, uploaded: number): void {
    this.total = total;
    this.uploadedCount = uploaded;
  }
  uploaded(count: number): void {
    this.uploadedCount = count;
  }
  answered(count: number): void {
    this.answeredCount = count;
  }
  log(line: string): void {
    this.lines.push(line);
  }
  stop(): void {
    // nothing drawn
  }
}

export interface IcsRun {
  code: number;
  stdout: string;
  stderr: string;
  progress: RecordingProgress;
}

/** Runs `ics` in this process with short retry waits; `env` stands in for the environment. */
export async function runIcs(argv: string[], extra: Partial<CliIo> = {}): Promise<IcsRun> {
  const stdout = new TextSink();
  const stderr = new TextSink();
  const progress = new RecordingProgress();
  const code = await runCli(argv, {
    stdout,
    stderr,
    env: {},
    progress: () => progress,
    backoff: { retries: 4, factor: 1, minTimeout: 5, maxTimeout: 5 },
    followRetryMs: 20,
    ...extra,
  });
  return { code, stdout: stdout.text, stderr: stderr.text, progress };
}

/** A fresh folder with the first n of the repository's small test JPEGs (distinct bytes each). */
export function imageFolder(n: number): { dir: string; names: string[]; bytes: (name: string) => Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'ics-images-'));
  const names = readdirSync(SMALL_IMAGES_DIR)
    .filter((f) => /\.jpe?g$/i.test(f))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .slice(0, n);
  for (const name of names) copyFileSync(join(SMALL_IMAGES_DIR, name), join(dir, name));
  return { dir, names, bytes: (name) => readFileSync(join(dir, name)) };
}

/** CSV rows of an export as objects keyed by the header (the export quotes no newlines). */
export function csvRows(text: string): Record<string, string>[] {
  const [header, ...lines] = text.trim().split('\n');
  const split = (line: string) => {
    const out: string[] = [];
    let cur = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted && c === '"' && line[i + 1] === '"') cur += line[i++];
      else if (c === '"') quoted = !quoted;
      else if (c === ',' && !quoted) {
        out.push(cur);
        cur = '';
      } else cur += c;
    }
    out.push(cur);
    return out;
  };
  const keys = split(header);
  return lines.map((l) => Object.fromEntries(split(l).map((v, i) => [keys[i], v])));
}
