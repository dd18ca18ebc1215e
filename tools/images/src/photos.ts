import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { WORKSPACE_ROOT } from './catalogue';

export interface Photo {
  name: string;
  bytes: Buffer;
  /** Where it came from: a folder, or `generated`. */
  source: string;
}

/**
 * Folders of real photos, best first: the evaluation set beside the repository when it is there
 * (not part of a clone), then the repository's own rendered scenes.
 */
export const PHOTO_FOLDERS = [join(WORKSPACE_ROOT, '../shared/datasets/imagenet-sample'), join(WORKSPACE_ROOT, 'tools/testing/fixtures/images/scenes')];

function jpegsIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.jpe?g$/i.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** A photo-sized JPEG made here: a colour gradient under gaussian grain, different per index. */
export async function generatePhoto(i: number, width = 480, height = 360): Promise<Buffer> {
  const hue = (i * 67) % 360;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="hsl(${hue},70%,55%)"/><stop offset="1" stop-color="hsl(${(hue + 140) % 360},60%,30%)"/>
    </linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <circle cx="${width / 2}" cy="${height / 2}" r="${height / 4 + i * 7}" fill="hsl(${(hue + 200) % 360},50%,70%)"/>
  </svg>`;
  const grain = await sharp({ create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 20 } } }).png().toBuffer();
  return sharp(Buffer.from(svg)).composite([{ input: grain, blend: 'overlay' }]).jpeg({ quality: 85 }).toBuffer();
}

/** `count` photos: from the first folders that have them, the rest generated. */
export async function pickPhotos(count: number, folders = PHOTO_FOLDERS): Promise<Photo[]> {
  const photos: Photo[] = [];
  for (const dir of folders) {
    for (const file of jpegsIn(dir)) {
      if (photos.length >= count) return photos;
      photos.push({ name: basename(file), bytes: readFileSync(file), source: dir });
    }
  }
  for (let i = photos.length; i < count; i++) photos.push({ name: `generated-${i + 1}.jpg`, bytes: await generatePhoto(i), source: 'generated' });
  return photos;
}
