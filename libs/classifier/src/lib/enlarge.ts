/**
 * The centred square of an image too small for the model, enlarged with the
 * cubic (Catmull-Rom) kernel: what libvips makes of `resize(side, side, { fit:
 * 'cover', kernel: 'cubic' })` then `extract(size x size from the middle)`,
 * within 3 levels of 255 (its fixed-point rounding), at about a third of its CPU.
 *
 * Why by hand: libvips enlarges through a general 2-D affine transform, 16 taps
 * an output value; the kernel is separable, and done as two 1-D passes it takes
 * 8, only over the pixels the crop keeps. On the benchmark's 64x64 JPEGs, CPU per
 * image: 2.7-3.4 ms all in libvips, 1.2-1.5 ms decoded by libvips and enlarged here
 * (`npm run bench:floor`: `decodeAllLibvips` against `decode`). Shrinking stays
 * libvips' (its reduce is separable and vectorised).
 */

/** Catmull-Rom, libvips' bicubic (a = -0.5). */
function catmullRom(t: number): number {
  const x = Math.abs(t);
  if (x <= 1) return 1.5 * x ** 3 - 2.5 * x ** 2 + 1;
  if (x < 2) return -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2;
  return 0;
}

/** For each output position along one axis, the four source indexes (clamped at the edges) and their weights. */
interface AxisTaps {
  index: Int32Array;
  weight: Float32Array;
}

function axisTaps(sourceLength: number, scale: number, offset: number, outLength: number): AxisTaps {
  const index = new Int32Array(outLength * 4);
  const weight = new Float32Array(outLength * 4);
  for (let o = 0; o < outLength; o++) {
    // libvips' mapping for an enlargement: output o of the scaled image samples source (o / scale - 0.5).
    const source = (o + offset) / scale - 0.5;
    const first = Math.floor(source) - 1;
    for (let j = 0; j < 4; j++) {
      index[o * 4 + j] = Math.min(sourceLength - 1, Math.max(0, first + j));
      weight[o * 4 + j] = catmullRom(source - (first + j));
    }
  }
  return { index, weight };
}

/** The scaled image's size, the crop's place in it, and the taps: the same for every image of one size. */
const tapsBySize = new Map<string, { x: AxisTaps; y: AxisTaps }>();
const TAP_SETS_KEPT = 64;
let scratch = new Float32Array(0);

export interface EnlargeGeometry {
  /** The side the image is scaled to cover (the model's input side / crop fraction). */
  side: number;
  /** The model's input side: the middle size x size of the scaled image is kept. */
  size: number;
}

/** Whether an image of this size is enlarged to cover `side` x `side` (rather than shrunk). */
export function needsEnlarging(width: number, height: number, side: number): boolean {
  return Math.min(width, height) < side;
}

/**
 * `pixels`: width x height x 3, 8 bits. Returns size x size x 3, 8 bits: the image
 * scaled by side / its shorter edge, the middle size x size of it.
 */
export function enlargeCentre(pixels: Uint8Array, width: number, height: number, { side, size }: EnlargeGeometry): Uint8Array {
  if (pixels.length !== width * height * 3) throw new RangeError(`expected ${width}x${height}x3 bytes, got ${pixels.length}`);
  const taps = tapsFor(width, height, side, size);
  const rowIn = width * 3;
  const rowOut = size * 3;
  // Pass 1, along x: every source row, only at the output's columns. (The buffer is re-used: this runs to the end synchronously.)
  if (scratch.length < height * rowOut) scratch = new Float32Array(height * rowOut);
  const across = scratch;
  const xi = taps.x.index;
  const xw = taps.x.weight;
  for (let y = 0; y < height; y++) {
    const row = y * rowIn;
    const out = y * rowOut;
    for (let x = 0; x < size; x++) {
      const t = x * 4;
      const i0 = row + xi[t] * 3;
      const i1 = row + xi[t + 1] * 3;
      const i2 = row + xi[t + 2] * 3;
      const i3 = row + xi[t + 3] * 3;
      const w0 = xw[t];
      const w1 = xw[t + 1];
      const w2 = xw[t + 2];
      const w3 = xw[t + 3];
      const o = out + x * 3;
      across[o] = pixels[i0] * w0 + pixels[i1] * w1 + pixels[i2] * w2 + pixels[i3] * w3;
      across[o + 1] = pixels[i0 + 1] * w0 + pixels[i1 + 1] * w1 + pixels[i2 + 1] * w2 + pixels[i3 + 1] * w3;
      across[o + 2] = pixels[i0 + 2] * w0 + pixels[i1 + 2] * w1 + pixels[i2 + 2] * w2 + pixels[i3 + 2] * w3;
    }
  }
  // Pass 2, along y: whole rows of pass 1 at a time.
  const result = new Uint8Array(size * rowOut);
  const yi = taps.y.index;
  const yw = taps.y.weight;
  for (let y = 0; y < size; y++) {
    const t = y * 4;
    const r0 = yi[t] * rowOut;
    const r1 = yi[t + 1] * rowOut;
    const r2 = yi[t + 2] * rowOut;
    const r3 = yi[t + 3] * rowOut;
    const w0 = yw[t];
    const w1 = yw[t + 1];
    const w2 = yw[t + 2];
    const w3 = yw[t + 3];
    const out = y * rowOut;
    for (let i = 0; i < rowOut; i++) {
      // Uint8Array stores clamp nothing: round and clamp here.
      const v = across[r0 + i] * w0 + across[r1 + i] * w1 + across[r2 + i] * w2 + across[r3 + i] * w3 + 0.5;
      result[out + i] = v <= 0 ? 0 : v >= 255 ? 255 : v;
    }
  }
  return result;
}

function tapsFor(width: number, height: number, side: number, size: number): { x: AxisTaps; y: AxisTaps } {
  const key = `${width}x${height}/${side}/${size}`;
  let taps = tapsBySize.get(key);
  if (!taps) {
    // As libvips' cover: one scale for both axes, the scaled size rounded, the crop centred (rounded), then the middle.
    const scale = side / Math.min(width, height);
    const margin = Math.floor((side - size) / 2);
    const scaledWidth = Math.round(width * scale);
    const scaledHeight = Math.round(height * scale);
    taps = {
      x: axisTaps(width, scale, Math.round((scaledWidth - side) / 2) + margin, size),
      y: axisTaps(height, scale, Math.round((scaledHeight - side) / 2) + margin, size),
    };
    if (tapsBySize.size >= TAP_SETS_KEPT) tapsBySize.delete(tapsBySize.keys().next().value as string);
    tapsBySize.set(key, taps);
  }
  return taps;
}
