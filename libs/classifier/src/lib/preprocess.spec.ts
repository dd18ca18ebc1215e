import { deflateSync } from 'node:zlib';
import sharp, { type Color, type Sharp } from 'sharp';
import { formatSample, scene } from '@tools/testing/files';
import { ImageDecodeError } from './errors';
import { decodeImage, sniffImageFormat, type PreprocessOptions } from './preprocess';

const SIZE = 32;
const opts: PreprocessOptions = { size: SIZE, range: [0, 1], maxBytes: 32 * 1024 * 1024, maxPixels: 50_000_000 };
const RED = { r: 255, g: 0, b: 0 };
const BLUE = { r: 0, g: 0, b: 255 };

/** RGB of the output pixel (x, y), in the model's range. */
function pixel(data: Float32Array, x: number, y: number, size = SIZE): number[] {
  const i = (y * size + x) * 3;
  return [data[i], data[i + 1], data[i + 2]];
}

const solid = (background: Color, width = 40, height = 30, channels: 3 | 4 = 3) =>
  sharp({ create: { width, height, channels, background } });

/** Left half red, right half blue. */
async function halves(width: number, height: number): Promise<Sharp> {
  const left = await solid(RED, width / 2, height).png().toBuffer();
  return solid(BLUE, width, height).composite([{ input: left, left: 0, top: 0 }]);
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A small, valid-looking PNG whose header claims width x height (a decompression bomb's header). */
function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = deflateSync(Buffer.alloc(64 * 1024)); // highly compressible pixel data
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', rows),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

async function expectDecodeError(bytes: Uint8Array, code: ImageDecodeError['code']): Promise<ImageDecodeError> {
  const err = await decodeImage(bytes, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageDecodeError);
  expect(err).toMatchObject({ code, permanent: true });
  return err as ImageDecodeError;
}

describe('sniffImageFormat', () => {
  it('tells the four formats by their bytes, and nothing else', async () => {
    const img = solid(RED);
    expect(sniffImageFormat(await img.clone().jpeg().toBuffer())).toBe('jpeg');
    expect(sniffImageFormat(await img.clone().png().toBuffer())).toBe('png');
    expect(sniffImageFormat(await img.clone().webp().toBuffer())).toBe('webp');
    expect(sniffImageFormat(await img.clone().gif().toBuffer())).toBe('gif');
    expect(sniffImageFormat(await img.clone().tiff().toBuffer())).toBeUndefined();
    expect(sniffImageFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeUndefined();
    expect(sniffImageFormat(new Uint8Array(0))).toBeUndefined();
  });
});

describe('decodeImage', () => {
  it.each(['jpeg', 'png', 'webp', 'gif'] as const)('decodes %s to size x size x 3 RGB', async (format) => {
    const bytes = await solid(RED)[format]().toBuffer();
    const out = await decodeImage(bytes, opts);
    expect(out.format).toBe(format);
    expect(out.data).toHaveLength(SIZE * SIZE * 3);
    const [r, g, b] = pixel(out.data, SIZE / 2, SIZE / 2);
    expect(r).toBeGreaterThan(0.9);
    expect(g).toBeLessThan(0.1);
    expect(b).toBeLessThan(0.1);
  });

  it.each([
    [[0, 1], 0, 1],
    [[-1, 1], -1, 1],
    [[0, 255], 0, 255],
  ] as const)('scales pixel values to the range %j', async (range, black, white) => {
    const bytes = await solid({ r: 0, g: 0, b: 0 }, 40, 40)
      .composite([{ input: await solid({ r: 255, g: 255, b: 255 }, 20, 40).png().toBuffer(), left: 20, top: 0 }])
      .png()
      .toBuffer();
    const out = await decodeImage(bytes, { ...opts, range });
    expect(pixel(out.data, 0, 0)).toEqual([black, black, black]);
    expect(pixel(out.data, SIZE - 1, 0)).toEqual([white, white, white]);
    expect(Math.min(...out.data)).toBe(black);
    expect(Math.max(...out.data)).toBe(white);
  });

  it('applies the EXIF orientation', async () => {
    // Stored landscape, left red / right blue; orientation 6 = shown rotated 90° clockwise,
    // so the red half is on top and the blue half at the bottom.
    const stored = await (await halves(80, 40)).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const out = await decodeImage(stored, opts);
    expect(pixel(out.data, 0, 2)[0]).toBeGreaterThan(0.8); // top: red
    expect(pixel(out.data, 0, SIZE - 3)[2]).toBeGreaterThan(0.8); // bottom: blue
    const unrotated = await decodeImage(await (await halves(80, 40)).jpeg().toBuffer(), opts);
    expect(pixel(unrotated.data, 0, SIZE - 3)[0]).toBeGreaterThan(0.8); // bottom-left stays red without the tag
  });

  it('resizes to cover the square (centre crop, no distortion)', async () => {
    // 3:1 landscape, red | blue | red in thirds: the crop keeps only the blue middle.
    const third = await solid(RED, 30, 30).png().toBuffer();
    const bytes = await solid(BLUE, 90, 30)
      .composite([
        { input: third, left: 0, top: 0 },
        { input: third, left: 60, top: 0 },
      ])
      .png()
      .toBuffer();
    const out = await decodeImage(bytes, opts);
    expect(pixel(out.data, 1, 1)[2]).toBeGreaterThan(0.9);
    expect(pixel(out.data, SIZE - 2, SIZE - 2)[2]).toBeGreaterThan(0.9);
  });

  it('flattens transparency onto white and drops alpha', async () => {
    const bytes = await solid({ r: 255, g: 0, b: 0, alpha: 0 }, 40, 40, 4).png().toBuffer();
    expect((await sharp(bytes).metadata()).channels).toBe(4);
    const out = await decodeImage(bytes, opts);
    expect(out.data).toHaveLength(SIZE * SIZE * 3);
    expect(pixel(out.data, 5, 5)).toEqual([1, 1, 1]);
  });

  it('turns grayscale into three equal channels', async () => {
    const bytes = await solid({ r: 128, g: 128, b: 128 }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(bytes).metadata()).channels).toBe(1);
    const [r, g, b] = pixel((await decodeImage(bytes, opts)).data, 3, 3);
    expect(r).toBeCloseTo(128 / 255, 2);
    expect(g).toBe(r);
    expect(b).toBe(r);
  });

  it('converts CMYK JPEGs to RGB', async () => {
    const bytes = await solid(RED).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(bytes).metadata()).space).toBe('cmyk');
    const [r, g, b] = pixel((await decodeImage(bytes, opts)).data, 5, 5);
    expect(r).toBeGreaterThan(0.8);
    expect(g).toBeLessThan(0.3);
    expect(b).toBeLessThan(0.3);
  });

  it('takes the first frame of an animated GIF', async () => {
    const red = await solid(RED, 20, 20).png().toBuffer();
    const blue = await solid(BLUE, 20, 20).png().toBuffer();
    const gif = await sharp([red, blue], { join: { animated: true } }).gif().toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const [r, , b] = pixel((await decodeImage(gif, opts)).data, 5, 5);
    expect(r).toBeGreaterThan(0.9);
    expect(b).toBeLessThan(0.1);
  });

  it('decodes a photo-sized JPEG', async () => {
    const out = await decodeImage(scene(0).bytes, { ...opts, size: 224 });
    expect(out.data).toHaveLength(224 * 224 * 3);
  });

  it('decodes the same scene from JPEG, WebP, GIF and PNG alike, flattening alpha onto white', async () => {
    const decoded = async (ext: 'jpg' | 'png' | 'webp' | 'gif') => (await decodeImage(formatSample(ext).bytes, opts)).data;
    const jpeg = await decoded('jpg');
    const meanDiff = (a: Float32Array, b: Float32Array, from = 0, to = SIZE) => {
      let sum = 0;
      let n = 0;
      for (let y = 0; y < SIZE; y++) {
        for (let x = from; x < to; x++) {
          for (let c = 0; c < 3; c++) sum += a[(y * SIZE + x) * 3 + c] - b[(y * SIZE + x) * 3 + c];
          n += 3;
        }
      }
      return sum / n;
    };
    for (const ext of ['webp', 'gif'] as const) {
      const other = await decoded(ext);
      let abs = 0;
      for (let i = 0; i < jpeg.length; i++) abs += Math.abs(other[i] - jpeg[i]);
      expect({ ext, close: abs / jpeg.length < 0.05 }).toEqual({ ext, close: true });
    }
    // The PNG's left half is half transparent: on white it is lighter than the opaque JPEG; its right half is the same.
    const png = await decoded('png');
    expect(meanDiff(png, jpeg, 0, SIZE / 2 - 1)).toBeGreaterThan(0.1);
    expect(Math.abs(meanDiff(png, jpeg, SIZE / 2 + 1, SIZE))).toBeLessThan(0.03);
  });
});

describe('hostile images: a permanent ImageDecodeError, quickly, with bounded memory', () => {
  const photo = () => scene(0).bytes;

  it('zero bytes', async () => {
    await expectDecodeError(new Uint8Array(0), 'empty');
  });

  it('text named .jpg', async () => {
    const err = await expectDecodeError(Buffer.from('this is not an image, whatever its name says\n'), 'unsupported-format');
    expect(err.message).toMatch(/not a JPEG, PNG, WebP or GIF/);
  });

  it('a truncated JPEG', async () => {
    const bytes = photo();
    const err = await expectDecodeError(bytes.subarray(0, Math.floor(bytes.length / 2)), 'undecodable');
    expect(err.message).toMatch(/cannot be decoded \(jpeg\)/);
  });

  it('a JPEG cut right after its header', async () => {
    await expectDecodeError(photo().subarray(0, 600), 'undecodable');
  });

  it('a PNG whose header claims 50000 x 50000', async () => {
    const bomb = pngClaiming(50_000, 50_000);
    expect(bomb.length).toBeLessThan(1024);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const err = await expectDecodeError(bomb, 'too-many-pixels');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect(err.message).toMatch(/larger than 50000000 pixels/);
  });

  it('an image over the byte limit is refused before decoding', async () => {
    const bytes = await solid(RED).png().toBuffer();
    await expect(decodeImage(bytes, { ...opts, maxBytes: bytes.length - 1 })).rejects.toMatchObject({ code: 'too-large' });
  });

  it('within the pixel limit, a big PNG still decodes (the limit is not too tight)', async () => {
    const big = await solid(RED, 4000, 3000).png({ compressionLevel: 1 }).toBuffer();
    await expect(decodeImage(big, opts)).resolves.toMatchObject({ format: 'png' });
  });
});

describe('crop fraction and resize kernel (from the model metadata)', () => {
  const GREEN = { r: 0, g: 255, b: 0 };
  /** 80x60, red, with a green 30x30 square in the middle (x 25..55, y 15..45). */
  async function framedSquare(): Promise<Buffer> {
    const square = await solid(GREEN, 30, 30).png().toBuffer();
    return solid(RED, 80, 60).composite([{ input: square, left: 25, top: 15 }]).png().toBuffer();
  }

  it('cuts a centred square of cropFraction x the shorter edge before resizing', async () => {
    const img = await framedSquare();
    // 0.5 x 60 = 30: exactly the green square, so every output pixel is green.
    const cropped = await decodeImage(img, { ...opts, cropFraction: 0.5, kernel: 'nearest' });
    for (const [x, y] of [[0, 0], [SIZE - 1, 0], [0, SIZE - 1], [SIZE - 1, SIZE - 1], [SIZE / 2, SIZE / 2]]) {
      expect(pixel(cropped.data, x, y)).toEqual([0, 1, 0]);
    }
    // The whole 60x60 centred square: red at the corners, green in the middle.
    const whole = await decodeImage(img, { ...opts, kernel: 'nearest' });
    expect(pixel(whole.data, 0, 0)).toEqual([1, 0, 0]);
    expect(pixel(whole.data, SIZE / 2, SIZE / 2)).toEqual([0, 1, 0]);
  });

  it('measures the crop on the image as shown (EXIF orientation applied first)', async () => {
    // Stored 200x50 with orientation 6: shown as 50x200. A crop measured on the stored
    // size would fall outside the shown image.
    const stored = await halves(200, 50);
    const jpeg = await stored.jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const out = await decodeImage(jpeg, { ...opts, cropFraction: 0.5 });
    expect(out.data).toHaveLength(SIZE * SIZE * 3);
    // Turned 90 degrees clockwise, the stored left half (red) is the top half as shown; the 25x25
    // centre crop straddles the seam (row 100 of 200): red at its top, blue at its bottom.
    const top = pixel(out.data, SIZE / 2, 2);
    const bottom = pixel(out.data, SIZE / 2, SIZE - 3);
    expect(top[0]).toBeGreaterThan(0.8);
    expect(bottom[2]).toBeGreaterThan(0.8);
  });

  it('resizes with the kernel it is given', async () => {
    // A 1-pixel checkerboard scaled down: nearest keeps pure black and white, cubic blends.
    const w = 64;
    const raw = Buffer.alloc(w * w * 3);
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) raw.fill((x + y) % 2 ? 255 : 0, (y * w + x) * 3, (y * w + x) * 3 + 3);
    const png = await sharp(raw, { raw: { width: w, height: w, channels: 3 } }).png().toBuffer();
    const nearest = await decodeImage(png, { ...opts, size: 24, kernel: 'nearest' });
    const cubic = await decodeImage(png, { ...opts, size: 24, kernel: 'cubic' });
    expect(new Set(nearest.data)).toEqual(new Set([0, 1]));
    expect([...cubic.data].some((v) => v > 0.1 && v < 0.9)).toBe(true);
  });
});
