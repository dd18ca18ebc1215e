import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { WORKSPACE_ROOT } from './apps';

/**
 * The ImageNet photos beside the clone (`../shared`, or SHARED_DIR / DATASET_DIR):
 * for the accuracy evaluation and the benchmarks only. Tests use the fixtures.
 */
export const SHARED_DIR = resolve(process.env['SHARED_DIR'] ?? join(WORKSPACE_ROOT, '../shared'));
export const DATASET_DIR = resolve(process.env['DATASET_DIR'] ?? join(SHARED_DIR, 'datasets'));

/**
 * A path a benchmark needs from the shared data, or an error that says what is
 * missing, where it was looked for, and how to point at it instead.
 */
export function requireSharedData(path: string, what: string): string {
  if (existsSync(path)) return path;
  throw new Error(
    `${what} is missing: ${path} does not exist. The evaluation and the benchmarks read the ImageNet photos from ../shared ` +
      `beside the clone; set DATASET_DIR (or SHARED_DIR) to where they are, or pass the path as a flag. npm test does not need them.`,
  );
}
