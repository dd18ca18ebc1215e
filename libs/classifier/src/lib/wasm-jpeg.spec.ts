import sharp, { type Sharp } from 'sharp';
import { scene, smallImage } from '@tools/testing/files';
import { ImageDecodeError } from './errors';
import { decodeImage, type PreprocessOptions } from './preprocess';
import { MOST_WASM_JPEG_PIXELS, plainJpeg, readJpegLayout, WasmJpegDecoder } from './wasm-jpeg';

// The default model's preprocessing: small images are enlarged to cover 256 x 256, the middle 224 kept.
const options: PreprocessOptions = { size: 224, range: [0, 1], cropFraction: 0.875, kernel: 'cubic', maxBytes: 32 * 1024 * 1024, maxPixels: 50_000_000 };
const viaLibvips: PreprocessOptions = { ...options, smallJpegsWith: 'libvips' };

const photo = (width: number, height: number) => sharp(scene(1).bytes).resize(width, height, { fit: 'fill' });
const jpeg = (image: Sharp, settings: Parameters<Sharp['jpeg']>[0] = {}) => image.jpeg({ quality: 90, ...settings }).toBuffer();

/** sharp's own decoding of a JPEG, as RGB. */
const libvipsPixels = async (bytes: Buffer) => (await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true })).data;

describe('readJpegLayout: what the markers before the first scan say', () => {
  it('reads the frame of baseline, progressive and grayscale JPEGs', async () => {
    expect(readJpegLayout(await jpeg(photo(63, 65)))).toEqual({ frame: 0xc0, precision: 8, width: 63, height: 65, components: 3, icc: false, adobeTransform: undefined });
    expect(readJpegLayout(await jpeg(photo(100, 75), { progressive: true }))).toMatchObject({ frame: 0xc2, width: 100, height: 75, components: 3 });
    expect(readJpegLayout(await jpeg(photo(40, 30).grayscale().toColourspace('b-w')))).toMatchObject({ components: 1 });
  });

  it('sees an embedded ICC profile and an Adobe colour transform', async () => {
    expect(readJpegLayout(await jpeg(photo(64, 64).withIccProfile('p3')))).toMatchObject({ icc: true });
    expect(readJpegLayout(await jpeg(photo(64, 64).toColourspace('cmyk')))).toMatchObject({ components: 4, adobeTransform: 0 });
  });

  it('is undefined for what does not read as a JPEG up to its first scan', async () => {
    const bytes = smallImage(0).bytes;
    expect(readJpegLayout(Buffer.from('not a jpeg at all'))).toBeUndefined();
    expect(readJpegLayout(bytes.subarray(0, 200))).toBeUndefined();
    const broken = Buffer.from(bytes);
    broken[2] = 0x00; // the first marker's 0xff
    expect(readJpegLayout(broken)).toBeUndefined();
  });
});

describe('decodeImage: small plain JPEGs decoded in WebAssembly, to the same pixels as libvips', () => {
  const cases: [string, () => Promise<Buffer>][] = [
    ['a 64x64 JPEG (the benchmark images)', async () => smallImage(0).bytes],
    ['another 64x64 JPEG', async () => smallImage(41).bytes],
    ['63x65, 4:2:0 (partial blocks)', () => jpeg(photo(63, 65))],
    ['250x206, 4:4:4', () => jpeg(photo(250, 206), { chromaSubsampling: '4:4:4' })],
    ['33x17, quality 100', () => jpeg(photo(33, 17), { quality: 100 })],
  ];

  it.each(cases)('%s', async (_name, make) => {
    const bytes = await make();
    const ours = await decodeImage(bytes, options);
    const libvips = await decodeImage(bytes, viaLibvips);
    expect(ours.decoder).toBe('wasm-jpeg');
    expect(libvips.decoder).toBe('libvips');
    expect(Buffer.from(ours.pixels).equals(Buffer.from(libvips.pixels))).toBe(true);
    expect(ours.pixels).toHaveLength(224 * 224 * 3);
  });

  const leftToLibvips: [string, () => Promise<Buffer>][] = [
    ['rotated by EXIF (orientation 6)', () => photo(200, 150).withMetadata({ orientation: 6 }).jpeg().toBuffer()],
    ['with an ICC profile', () => jpeg(photo(120, 90).withIccProfile('p3'))],
    ['grayscale', () => jpeg(photo(90, 60).grayscale().toColourspace('b-w'))],
    ['CMYK', () => jpeg(photo(90, 60).toColourspace('cmyk'))],
    ['progressive (any number of scans: not on the main thread)', () => jpeg(photo(200, 150), { progressive: true })],
    [`over ${MOST_WASM_JPEG_PIXELS} pixels`, () => jpeg(photo(2000, 200))],
  ];

  it.each(leftToLibvips)('%s: left to libvips, decoded as before', async (_name, make) => {
    const bytes = await make();
    const ours = await decodeImage(bytes, options);
    expect(ours.decoder).toBe('libvips');
    expect(Buffer.from(ours.pixels).equals(Buffer.from((await decodeImage(bytes, viaLibvips)).pixels))).toBe(true);
  });

  it('a small JPEG over the configured pixel limit is refused as too many pixels', async () => {
    await expect(decodeImage(await jpeg(photo(100, 100)), { ...options, maxPixels: 9_999 })).rejects.toMatchObject({ code: 'too-many-pixels' });
  });

  it('a truncated small JPEG is an error, as libvips has always judged it', async () => {
    const bytes = await jpeg(photo(64, 64));
    const err = await decodeImage(bytes.subarray(0, bytes.length - 100), options).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageDecodeError);
    expect(err).toMatchObject({ code: 'undecodable', message: expect.stringMatching(/cannot be decoded \(jpeg\)/) });
    // And the next image decodes as ever.
    expect((await decodeImage(bytes, options)).decoder).toBe('wasm-jpeg');
  });
});

describe('WasmJpegDecoder', () => {
  /** The i-th small fixture JPEG and its layout. */
  function fixture(i: number) {
    const bytes = smallImage(i).bytes;
    const layout = readJpegLayout(bytes);
    if (!layout) throw new Error(`test_${i}.JPEG has no layout`);
    return { bytes, layout };
  }

  it('decodes to the bytes sharp does, re-using one instance', async () => {
    const decoder = new WasmJpegDecoder();
    for (const i of [0, 1, 2]) {
      const { bytes, layout } = fixture(i);
      expect(plainJpeg(layout, undefined, bytes.length)).toBe(true);
      const out = decoder.decode(bytes, layout);
      expect(out).toMatchObject({ width: 64, height: 64 });
      expect(Buffer.from(out?.pixels ?? []).equals(await libvipsPixels(bytes))).toBe(true);
    }
    expect(decoder.instances).toBe(1);
  });

  it('leaves a JPEG that libjpeg warns about (truncated) to the caller, and goes on', async () => {
    const decoder = new WasmJpegDecoder();
    const { bytes, layout } = fixture(3);
    expect(decoder.decode(bytes.subarray(0, bytes.length - 300), layout)).toBeUndefined();
    expect(decoder.decode(bytes, layout)?.pixels).toHaveLength(64 * 64 * 3);
    expect(decoder.instances).toBe(1);
  });

  it('after a libjpeg error, starts a fresh instance and decodes the next JPEG right', async () => {
    const decoder = new WasmJpegDecoder();
    const { bytes, layout } = fixture(4);
    // A quantization table numbered 7 (at most 3 exist): libjpeg's error handler, not a warning.
    const bogus = Buffer.from(bytes);
    const dqt = bogus.indexOf(Buffer.from([0xff, 0xdb]));
    bogus[dqt + 4] = 0x07;
    expect(decoder.decode(bogus, layout)).toBeUndefined();
    expect(decoder.decode(bogus, layout)).toBeUndefined();
    const out = decoder.decode(bytes, layout);
    expect(Buffer.from(out?.pixels ?? []).equals(await libvipsPixels(bytes))).toBe(true);
    expect(decoder.instances).toBe(3);
  });
});
