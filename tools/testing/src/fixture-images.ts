import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import seedrandom from 'seedrandom';

/**
 * The test images the repository ships: rendered by the project itself from a
 * seeded generator (gradients, shapes and grain), so they may be redistributed
 * with the code and every test sees the same bytes on every clone. The model
 * gives them some ImageNet label with a low confidence; tests compare what the
 * pipeline answers with what the in-process classifier answers for the same bytes.
 */

export interface RenderedImage {
  /** Path under the fixtures' images folder. */
  file: string;
  bytes: Buffer;
}

/** Number of small JPEGs, as many as the classic workload posts. */
export const SMALL_IMAGE_COUNT = 100;
export const SCENE_COUNT = 4;

type Rgb = [number, number, number];

/** Deterministic RGB pixels for a seed: a gradient, a few shapes and a little grain. */
export function renderPixels(seed: string, width: number, height: number, grain = 12): Buffer {
  const rnd = seedrandom(seed);
  const colour = (): Rgb => [rnd() * 255, rnd() * 255, rnd() * 255];
  const from = colour();
  const to = colour();
  const angle = rnd() * Math.PI * 2;
  const [dx, dy] = [Math.cos(angle), Math.sin(angle)];
  const shapes = Array.from({ length: 3 + Math.floor(rnd() * 4) }, () => ({
    kind: Math.floor(rnd() * 3),
    cx: rnd() * width,
    cy: rnd() * height,
    size: (0.1 + rnd() * 0.35) * Math.min(width, height),
    period: 2 + rnd() * 10,
    fill: colour(),
  }));
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = Math.min(1, Math.max(0, 0.5 + ((x / width - 0.5) * dx + (y / height - 0.5) * dy)));
      let px: Rgb = [from[0] + (to[0] - from[0]) * t, from[1] + (to[1] - from[1]) * t, from[2] + (to[2] - from[2]) * t];
      for (const s of shapes) {
        const [ox, oy] = [x - s.cx, y - s.cy];
        const inside =
          s.kind === 0
            ? ox * ox + oy * oy < s.size * s.size
            : s.kind === 1
              ? Math.abs(ox) < s.size && Math.abs(oy) < s.size * 0.6
              : Math.abs(ox) < s.size * 1.5 && Math.abs(oy) < s.size && Math.floor((ox + oy) / s.period) % 2 === 0;
        if (inside) px = s.fill;
      }
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) out[i + c] = Math.round(Math.min(255, Math.max(0, px[c] + (rnd() - 0.5) * grain)));
    }
  }
  return out;
}

function raw(seed: string, width: number, height: number, grain?: number) {
  return loadSharp()(renderPixels(seed, width, height, grain), { raw: { width, height, channels: 3 } });
}

/** Every image the fixtures folder holds, rendered afresh. */
export async function renderFixtureImages(): Promise<RenderedImage[]> {
  const out: RenderedImage[] = [];
  for (let i = 0; i < SMALL_IMAGE_COUNT; i++) {
    // 64x64 like the classic workload's photos.
    out.push({ file: `small/test_${i}.JPEG`, bytes: await raw(`small-${i}`, 64, 64).jpeg({ quality: 90 }).toBuffer() });
  }
  for (let i = 0; i < SCENE_COUNT; i++) {
    // Photo-sized (500x375, as many ImageNet photos are), for decoding, cropping and upload sizes.
    out.push({ file: `scenes/scene_${i}.jpg`, bytes: await raw(`scene-${i}`, 500, 375, 24).jpeg({ quality: 90 }).toBuffer() });
  }
  const [width, height] = [160, 120];
  const scene = () => raw('formats', width, height);
  // Half-transparent at the left, so a decoder must flatten the alpha.
  const alpha = Buffer.alloc(width * height, 255);
  for (let y = 0; y < height; y++) alpha.fill(128, y * width, y * width + width / 2);
  const withAlpha = await scene()
    .joinChannel(alpha, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
  out.push({ file: 'formats/scene.jpg', bytes: await scene().jpeg({ quality: 90 }).toBuffer() });
  out.push({ file: 'formats/scene.png', bytes: withAlpha });
  out.push({ file: 'formats/scene.webp', bytes: await scene().webp({ quality: 90 }).toBuffer() });
  out.push({ file: 'formats/scene.gif', bytes: await scene().gif().toBuffer() });
  return out;
}

/** Writes the fixtures (run it after changing the generator, and commit the result). */
export async function writeFixtureImages(imagesDir: string): Promise<RenderedImage[]> {
  const images = await renderFixtureImages();
  for (const img of images) {
    mkdirSync(dirname(join(imagesDir, img.file)), { recursive: true });
    writeFileSync(join(imagesDir, img.file), img.bytes);
  }
  return images;
}

/**
 * sharp, loaded only when images are rendered (a maintenance task). Nx puts the npm imports of every
 * project an app depends on, spec helpers included, into the app's artifact: a static import here
 * made sharp a dependency of the web tier and the controllers through their libs' specs.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- sharp's types would be an import Nx counts too
export function loadSharp(): any {
  const name = 'sharp';
    return require(name);
}
