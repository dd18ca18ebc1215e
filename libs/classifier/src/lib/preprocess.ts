import { imageSize } from 'image-size';
import sharp, { type OutputInfo } from 'sharp';
import { sniffImageType } from '@app/contracts';
import { checkEnlargeable, enlargeCentre, needsEnlarging, type EnlargeGeometry } from './enlarge';
import { ImageDecodeError } from './errors';
import type { ResizeKernel } from './metadata';
import { scalePixels } from './model-input';
import { plainJpeg, readJpegLayout, WasmJpegDecoder, type DecodedJpeg } from './wasm-jpeg';

export const IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'gif'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/**
 * The image type by its first bytes (never by a file name or a content type).
 * Only these four reach the decoder: libvips reads many more formats (SVG,
 * TIFF, PDF, ...) that an upload has no business exercising.
 */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const ext = sniffImageType(bytes);
  return ext === 'jpg' ? 'jpeg' : ext;
}

export interface PreprocessOptions {
  /** The model's square input side, pixels. */
  size: number;
  /** The model's input value range: pixel 0 maps to min, 255 to max. */
  range: readonly [number, number];
  /** Centre crop of this fraction of the shorter edge before resizing (default 1: the largest centred square). */
  cropFraction?: number;
  /** sharp's resize kernel (default lanczos3). */
  kernel?: ResizeKernel;
  /** Largest encoded image, bytes. */
  maxBytes: number;
  /** Largest image by its header's width x height (decompression bombs are refused before decoding). */
  maxPixels: number;
  /**
   * How an image smaller than the input is enlarged with the cubic kernel: in two 1-D passes
   * here ('separable', the default: enlarge.ts), or by libvips' affine transform (to compare).
   */
  enlargeWith?: 'separable' | 'libvips';
  /**
   * How a small plain JPEG (one to be enlarged) is decoded: by libjpeg-turbo in WebAssembly on
   * this thread ('wasm', the default: wasm-jpeg.ts), or by libvips (to compare). Same pixels.
   */
  smallJpegsWith?: 'wasm' | 'libvips';
}

export interface DecodedImage {
  /** size x size x 3, RGB, row-major, 8 bits per channel (an enlarged image's made on first read). */
  readonly pixels: Uint8Array;
  /** Values in `pixels`: size x size x 3. */
  readonly length: number;
  /** The model's input range: pixel 0 maps to min, 255 to max. */
  range: readonly [number, number];
  /**
   * The pixels scaled to the model's range, made on first read. The classifier
   * hands the model thread the pixels instead, a quarter of the bytes, and
   * scales them there into a buffer it re-uses: 1.2 MB less garbage per image
   * (600 KB here, as much again for the batch), whose churn drove a full
   * garbage collection every few dozen images.
   */
  readonly data: Float32Array;
  format: ImageFormat;
  /** Time spent decoding it (an enlarged image's enlargement included, once it is done). */
  decodeMs: number;
  /** What decoded it: libvips, or (a small plain JPEG) libjpeg-turbo in WebAssembly. */
  decoder: ImageDecoder;
  /**
   * Writes the pixels into `target` from `offset`. An image to be enlarged is enlarged straight
   * there (the classifier's batch), never into a 150 KB array of its own that the batch would
   * copy and drop: about 50 us of CPU per image in allocation, zeroing and freeing.
   */
  writePixels(target: Uint8Array, offset: number): void;
}

export type ImageDecoder = 'libvips' | 'wasm-jpeg';

/** A decoded image whose `data` is scaled from its pixels on first read. */
export function decodedImage(pixels: Uint8Array, range: readonly [number, number], format: ImageFormat, decodeMs: number, decoder: ImageDecoder = 'libvips'): DecodedImage {
  let scaled: Float32Array | undefined;
  return {
    pixels,
    length: pixels.length,
    range,
    format,
    decodeMs,
    decoder,
    get data() {
      return (scaled ??= scalePixels(pixels, range));
    },
    writePixels(target, offset) {
      target.set(pixels, offset);
    },
  };
}

/** A small image (width x height x 3), to be enlarged to the model's input as it is written or first read. */
function enlargedImage(
  source: Uint8Array,
  width: number,
  height: number,
  geometry: EnlargeGeometry,
  range: readonly [number, number],
  format: ImageFormat,
  decodeMs: number,
  decoder: ImageDecoder,
): DecodedImage {
  const length = geometry.size * geometry.size * 3;
  checkEnlargeable(source, width, height);
  let pixels: Uint8Array | undefined;
  let scaled: Float32Array | undefined;
  // The enlargement's time is the decoding's (decodeMs), whenever it happens.
  const enlarge = (image: DecodedImage, out?: Uint8ClampedArray) => {
    const started = performance.now();
    const result = enlargeCentre(source, width, height, geometry, out);
    image.decodeMs += performance.now() - started;
    return result;
  };
  return {
    get pixels() {
      return (pixels ??= enlarge(this));
    },
    length,
    range,
    format,
    decodeMs,
    decoder,
    get data() {
      return (scaled ??= scalePixels(this.pixels, range));
    },
    writePixels(target, offset) {
      if (pixels) target.set(pixels, offset);
      else enlarge(this, new Uint8ClampedArray(target.buffer, target.byteOffset + offset, length));
    },
  };
}

// libvips' operation cache keeps recent images for re-use; a worker never sees
// the same image twice, so it would only hold memory.
sharp.cache(false);

/** Most pixels of an image enlarged here: bounds the buffer it is decoded into (libvips streams the rest). */
const MOST_PIXELS_ENLARGED = 4_000_000;

/**
 * The image's size by its header when it is smaller than `side` on its shorter edge, and of a size decoded
 * whole here (within `maxPixels`: one over it is libvips' to refuse, as too many pixels).
 */
function enlargeable(bytes: Uint8Array, side: number, maxPixels: number): { width: number; height: number; orientation?: number } | undefined {
  let size;
  try {
    size = imageSize(bytes);
  } catch {
    return undefined; // libvips will say what is wrong with it
  }
  return needsEnlarging(size.width, size.height, side) && size.width * size.height <= Math.min(MOST_PIXELS_ENLARGED, maxPixels) ? size : undefined;
}

/** Small JPEGs' decoder (wasm-jpeg.ts says why), started on the first one. */
const smallJpegs = new WasmJpegDecoder();

/** A small plain JPEG's pixels as libvips would decode them; undefined for libvips to decode. */
function decodeSmallJpeg(bytes: Uint8Array, orientation: number | undefined): DecodedJpeg | undefined {
  const layout = readJpegLayout(bytes);
  return layout && plainJpeg(layout, orientation, bytes.length) ? smallJpegs.decode(bytes, layout) : undefined;
}

/**
 * Decodes JPEG, PNG, WebP or GIF (first frame) into the model's input:
 * EXIF orientation applied, alpha flattened onto white, grayscale and CMYK
 * converted to sRGB, the centred square of `cropFraction` x the shorter edge
 * at size x size (resized with `kernel`), 8 bits per channel (`data`: scaled
 * to the model's range). Anything else is an ImageDecodeError.
 */
export async function decodeImage(bytes: Uint8Array, options: PreprocessOptions): Promise<DecodedImage> {
  const started = performance.now();
  if (bytes.length === 0) throw new ImageDecodeError('empty', 'image is empty (0 bytes)');
  if (bytes.length > options.maxBytes) {
    throw new ImageDecodeError('too-large', `image takes ${bytes.length} bytes, more than ${options.maxBytes}`);
  }
  const format = sniffImageFormat(bytes);
  if (!format) throw new ImageDecodeError('unsupported-format', 'not a JPEG, PNG, WebP or GIF image');
  let raw: { data: Buffer; info: OutputInfo };
  const scaledSide = Math.round(options.size / (options.cropFraction ?? 1));
  const margin = Math.floor((scaledSide - options.size) / 2);
  // A small image, to be enlarged with the cubic kernel: decoded by libvips (or, a plain JPEG, by libjpeg-turbo in
  // WebAssembly: wasm-jpeg.ts), enlarged here (enlarge.ts says why).
  const small = options.kernel === 'cubic' && options.enlargeWith !== 'libvips' ? enlargeable(bytes, scaledSide, options.maxPixels) : undefined;
  const enlarging = small !== undefined;
  const geometry = { side: scaledSide, size: options.size };
  if (small && format === 'jpeg' && options.smallJpegsWith !== 'libvips') {
    const decoded = decodeSmallJpeg(bytes, small.orientation);
    if (decoded) {
      return enlargedImage(decoded.pixels, decoded.width, decoded.height, geometry, options.range, format, performance.now() - started, 'wasm-jpeg');
    }
  }
  try {
    const image = sharp(bytes, {
      // Checked against the header before any pixel is decoded (libvips' reading of it: a small image is
      // decoded whole, so one whose header image-size read as small is held to that size).
      limitInputPixels: enlarging ? Math.min(options.maxPixels, MOST_PIXELS_ENLARGED) : options.maxPixels,
      // A truncated file is an error; a harmless warning (common in real JPEGs) is not.
      failOn: 'truncated',
      sequentialRead: true,
      pages: 1,
      // EXIF orientation applied before the crop, so the crop is centred on what a viewer sees.
      autoOrient: true,
    });
    const oriented = image.flatten({ background: '#ffffff' }).toColourspace('srgb');
    if (enlarging) {
      const { data, info } = await oriented.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      if (info.channels !== 3 || !needsEnlarging(info.width, info.height, scaledSide)) {
        throw new ImageDecodeError('undecodable', `unexpected decoder output ${info.width}x${info.height}x${info.channels} for an image of ${scaledSide} pixels or less`);
      }
      return enlargedImage(data, info.width, info.height, geometry, options.range, format, performance.now() - started, 'libvips');
    }
    raw = await oriented
      // A centred square of crop x the shorter edge, at size: the image scaled to cover a
      // square of size / crop, then the middle size x size cut out. One pass, no header read
      // first; libvips computes only the pixels the cut keeps.
      .resize(scaledSide, scaledSide, { fit: 'cover', kernel: options.kernel ?? 'lanczos3' })
      .extract({ left: margin, top: margin, width: options.size, height: options.size })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    const message = (err as Error).message ?? String(err);
    if (/pixel limit/i.test(message)) {
      if (enlarging) throw new ImageDecodeError('undecodable', 'image is larger than its header says', { cause: err });
      throw new ImageDecodeError('too-many-pixels', `image is larger than ${options.maxPixels} pixels`, { cause: err });
    }
    throw new ImageDecodeError('undecodable', `image cannot be decoded (${format}): ${message.trim()}`, { cause: err });
  }
  const { data, info } = raw;
  if (info.channels !== 3 || info.width !== options.size || info.height !== options.size) {
    throw new ImageDecodeError('undecodable', `unexpected decoder output ${info.width}x${info.height}x${info.channels}`);
  }
  return decodedImage(data, options.range, format, performance.now() - started, 'libvips');
}
