import { imageSize } from 'image-size';
import sharp, { type OutputInfo } from 'sharp';
import { sniffImageType } from '@app/contracts';
import { enlargeCentre, needsEnlarging } from './enlarge';
import { ImageDecodeError } from './errors';
import type { ResizeKernel } from './metadata';
import { scalePixels } from './model-input';

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
}

export interface DecodedImage {
  /** size x size x 3, RGB, row-major, 8 bits per channel. */
  pixels: Uint8Array;
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
  decodeMs: number;
}

/** A decoded image whose `data` is scaled from its pixels on first read. */
export function decodedImage(pixels: Uint8Array, range: readonly [number, number], format: ImageFormat, decodeMs: number): DecodedImage {
  let scaled: Float32Array | undefined;
  return {
    pixels,
    range,
    format,
    decodeMs,
    get data() {
      return (scaled ??= scalePixels(pixels, range));
    },
  };
}

// libvips' operation cache keeps recent images for re-use; a worker never sees
// the same image twice, so it would only hold memory.
sharp.cache(false);

/** Most pixels of an image enlarged here: bounds the buffer it is decoded into (libvips streams the rest). */
const MOST_PIXELS_ENLARGED = 4_000_000;

/** Whether the image's header says it is smaller than `side` on its shorter edge, and of a size decoded whole here. */
function smallEnough(bytes: Uint8Array, side: number): boolean {
  let size;
  try {
    size = imageSize(bytes);
  } catch {
    return false; // libvips will say what is wrong with it
  }
  return needsEnlarging(size.width, size.height, side) && size.width * size.height <= MOST_PIXELS_ENLARGED;
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
  // A small image, to be enlarged with the cubic kernel: decoded by libvips, enlarged here (enlarge.ts says why).
  const enlarging = options.kernel === 'cubic' && options.enlargeWith !== 'libvips' && smallEnough(bytes, scaledSide);
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
      const pixels = enlargeCentre(data, info.width, info.height, { side: scaledSide, size: options.size });
      return decodedImage(pixels, options.range, format, performance.now() - started);
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
  return decodedImage(data, options.range, format, performance.now() - started);
}
