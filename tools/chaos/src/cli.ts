import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, writeJsonOutput } from '@app/command-line';
import { buildApps } from '@tools/local-run';
import { DATASET_DIR, MODEL_DIR } from '@tools/testing';

const IMAGE = /\.(jpe?g|png|webp|gif)$/i;

export function imagesIn(dir: string, limit?: number): string[] {
  // The default datasets live beside the repository (../shared), which a fresh clone does not have.
  if (!existsSync(dir)) throw new UsageError(`no folder ${dir}: pass a folder of images (the default is the ImageNet data in ../shared, or DATASET_DIR)`);
  const files = readdirSync(dir)
    .filter((f) => IMAGE.test(f))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((f) => join(dir, f));
  if (files.length === 0) throw new UsageError(`no images in ${dir}`);
  return limit ? files.slice(0, limit) : files;
}

export const defaultDataset = (name: string) => join(DATASET_DIR, name, 'images');

/**
 * The model for a pipeline run: MODEL_DIR/MODEL_URL when set, else the small fast
 * model beside the repository when it is there (these runs test the pipeline,
 * not the model), else the service's default model.
 */
export function pipelineModelEnv(): Record<string, string> {
  if (process.env['MODEL_DIR'] || process.env['MODEL_URL']) return {};
  return existsSync(join(MODEL_DIR, 'model.json')) ? { MODEL_DIR } : {};
}

export function buildUnlessSkipped(): void {
  if (process.env['LOCAL_RUN_SKIP_BUILD'] === 'true') return;
  console.error('Building the apps (cached after the first time)...');
  buildApps();
}

/** --json OUT. */
export const writeJson = writeJsonOutput;
