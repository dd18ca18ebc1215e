import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * What the tests need, shipped in the repository (tools/testing/fixtures): the
 * project's own rendered images and a copy of the small MobileNet V1 model
 * (Apache-2.0; licence beside it). Nothing here reads outside the clone.
 */
export const FIXTURES_DIR = resolve(__dirname, '../fixtures');
export const FIXTURE_IMAGES_DIR = join(FIXTURES_DIR, 'images');

/** The small, fast model for tests that exercise the pipeline (TEST_MODEL_DIR overrides it). */
export const MODEL_DIR = resolve(process.env['TEST_MODEL_DIR'] ?? join(FIXTURES_DIR, 'models/mobilenet_v1_025_224'));

/** 100 rendered 64x64 JPEGs named like the classic workload's photos: `test_<i>.JPEG`. */
export const SMALL_IMAGES_DIR = join(FIXTURE_IMAGES_DIR, 'small');
/** A few photo-sized (500x375) JPEGs. */
export const SCENES_DIR = join(FIXTURE_IMAGES_DIR, 'scenes');
/** One scene as JPEG, PNG (with alpha), WebP and GIF. */
export const FORMATS_DIR = join(FIXTURE_IMAGES_DIR, 'formats');

export interface FixtureImage {
  name: string;
  bytes: Buffer;
}

/** The i-th small JPEG. */
export function smallImage(i: number): FixtureImage {
  const name = `test_${i}.JPEG`;
  return { name, bytes: readFileSync(join(SMALL_IMAGES_DIR, name)) };
}

/** The file names of the small JPEGs, test_0 first. */
export function smallImageNames(): string[] {
  return readdirSync(SMALL_IMAGES_DIR)
    .filter((f) => f.endsWith('.JPEG'))
    .sort((a, b) => Number(a.match(/\d+/)?.[0]) - Number(b.match(/\d+/)?.[0]));
}

/** The i-th photo-sized JPEG. */
export function scene(i = 0): FixtureImage {
  const name = `scene_${i}.jpg`;
  return { name, bytes: readFileSync(join(SCENES_DIR, name)) };
}

/** The same scene in one format: `jpg`, `png`, `webp` or `gif`. */
export function formatSample(ext: 'jpg' | 'png' | 'webp' | 'gif'): FixtureImage {
  const name = `scene.${ext}`;
  return { name, bytes: readFileSync(join(FORMATS_DIR, name)) };
}
