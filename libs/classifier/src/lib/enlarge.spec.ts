import sharp, { type Sharp } from 'sharp';
import { formatSample, scene, smallImage } from '@tools/testing/files';
import { enlargeCentre, needsEnlarging } from './enlarge';
import { decodeImage, type PreprocessOptions } from './preprocess';

// The default model's preprocessing: 224 x 224, the middle 0.875 of the shorter edge, cubic.
const SIZE = 224;
const SIDE = 256;
const options: PreprocessOptions = { size: SIZE, range: [0, 1], cropFraction: 0.875, kernel: 'cubic', maxBytes: 32 * 1024 * 1024, maxPixels: 50_000_000 };

/** What libvips makes of the same crop: the pipeline decodeImage runs for images it shrinks. */
async function libvipsCrop(bytes: Buffer): Promise<Buffer> {
  return sharp(bytes, { autoOrient: true })
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .resize(SIDE, SIDE, { fit: 'cover', kernel: 'cubic' })
    .extract({ left: 16, top: 16, width: SIZE, height: SIZE })
    .removeAlpha()
    .raw()
    .toBuffer();
}

function difference(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  expect(a.length).toBe(b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

const small = (image: Sharp) => image.jpeg({ quality: 90 }).toBuffer();

describe('enlargeCentre: small images enlarged as libvips does, by two 1-D passes', () => {
  it('enlarges only what is smaller than the side on its shorter edge', () => {
    expect(needsEnlarging(64, 64, SIDE)).toBe(true);
    expect(needsEnlarging(4000, 255, SIDE)).toBe(true);
    expect(needsEnlarging(256, 300, SIDE)).toBe(false);
    expect(needsEnlarging(500, 375, SIDE)).toBe(false);
  });

  const cases: [string, () => Promise<Buffer>][] = [
    ['a 64x64 JPEG (the benchmark images)', async () => smallImage(0).bytes],
    ['another 64x64 JPEG', async () => smallImage(7).bytes],
    ['a 250x206 JPEG (scale 1.243, crop rounded)', () => small(sharp(scene(1).bytes).resize(250, 206, { fit: 'fill' }))],
    ['a tall 120x255 PNG with alpha', () => sharp(formatSample('png').bytes).resize(120, 255, { fit: 'fill' }).ensureAlpha(0.5).png().toBuffer()],
    ['a 200x150 JPEG rotated by EXIF (orientation 6)', () => sharp(scene(2).bytes).resize(200, 150, { fit: 'fill' }).withMetadata({ orientation: 6 }).jpeg().toBuffer()],
    ['a grayscale 90x60 JPEG', () => small(sharp(scene(3).bytes).resize(90, 60, { fit: 'fill' }).grayscale())],
    ['a 100x100 GIF', () => sharp(formatSample('gif').bytes).resize(100, 100).gif().toBuffer()],
  ];

  it.each(cases)('%s: within 3 levels of libvips, 0.2 on average', async (_name, make) => {
    const bytes = await make();
    const ours = await decodeImage(bytes, options);
    const { max, mean } = difference(ours.pixels, await libvipsCrop(bytes));
    expect(max).toBeLessThanOrEqual(3);
    expect(mean).toBeLessThan(0.2);
  });

  it('keeps the crop centred: a left-red right-blue image stays so, split in the middle', async () => {
    const left = await sharp({ create: { width: 40, height: 60, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
    const bytes = await sharp({ create: { width: 80, height: 60, channels: 3, background: { r: 0, g: 0, b: 255 } } })
      .composite([{ input: left, left: 0, top: 0 }])
      .png()
      .toBuffer();
    const { pixels } = await decodeImage(bytes, options);
    const at = (x: number, y: number) => Array.from(pixels.subarray((y * SIZE + x) * 3, (y * SIZE + x) * 3 + 3));
    expect(at(10, 100)).toEqual([255, 0, 0]);
    expect(at(213, 100)).toEqual([0, 0, 255]);
    // The edge falls on the middle column (the kernel overshoots a little around it).
    expect(at(104, 100)[0]).toBeGreaterThan(200);
    expect(at(119, 100)[2]).toBeGreaterThan(200);
  });

  it('enlarges straight into a batch where it is written first, to the same bytes as read alone', async () => {
    const bytes = smallImage(5).bytes;
    const written = await decodeImage(bytes, options);
    const batch = new Uint8Array(3 * written.length).fill(7);
    const decodedIn = written.decodeMs;
    written.writePixels(batch, written.length);
    expect(written.decodeMs).toBeGreaterThan(decodedIn); // the enlargement counts as decoding, when it happens
    const read = await decodeImage(bytes, options);
    expect(Buffer.from(batch.subarray(written.length, 2 * written.length)).equals(Buffer.from(read.pixels))).toBe(true);
    // Nothing outside its place is touched.
    expect(batch.subarray(0, written.length).every((v) => v === 7)).toBe(true);
    expect(batch.subarray(2 * written.length).every((v) => v === 7)).toBe(true);
    // Once read, its pixels are written as they are.
    read.writePixels(batch, 0);
    expect(Buffer.from(batch.subarray(0, read.length)).equals(Buffer.from(read.pixels))).toBe(true);
  });

  it('refuses pixels that are not width x height x 3', () => {
    expect(() => enlargeCentre(new Uint8Array(10), 4, 4, { side: SIDE, size: SIZE })).toThrow(RangeError);
  });
});
