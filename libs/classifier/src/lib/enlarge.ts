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

/**
 * For each output position along one axis, the four source indexes (clamped at the edges) and their
 * weights; and `runs`: how many consecutive outputs read the same four sources (about the scale),
 * read once for the whole run.
 */
interface AxisTaps {
  index: Int32Array;
  weight: Float32Array;
  runs: Int32Array;
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
  const runs: number[] = [];
  for (let o = 0; o < outLength; ) {
    let n = 1;
    while (o + n < outLength && sameSources(index, o, o + n)) n++;
    runs.push(n);
    o += n;
  }
  return { index, weight, runs: Int32Array.from(runs) };
}

function sameSources(index: Int32Array, a: number, b: number): boolean {
  for (let j = 0; j < 4; j++) if (index[a * 4 + j] !== index[b * 4 + j]) return false;
  return true;
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

/** Throws unless `pixels` holds width x height x 3 bytes. */
export function checkEnlargeable(pixels: Uint8Array, width: number, height: number): void {
  if (pixels.length !== width * height * 3) throw new RangeError(`expected ${width}x${height}x3 bytes, got ${pixels.length}`);
}

/**
 * `pixels`: width x height x 3, 8 bits. Returns size x size x 3, 8 bits: the image
 * scaled by side / its shorter edge, the middle size x size of it (into `out` when given).
 *
 * Both passes go run by run (AxisTaps.runs): the four source values a run reads are
 * loaded once for all its outputs. On the 64x64 benchmark images that took 0.46 ms
 * down to 0.32 (the loads, more than the arithmetic, are what the passes cost here).
 */
export function enlargeCentre(pixels: Uint8Array, width: number, height: number, { side, size }: EnlargeGeometry, out?: Uint8ClampedArray): Uint8Array {
  checkEnlargeable(pixels, width, height);
  const taps = tapsFor(width, height, side, size);
  const rowOut = size * 3;
  // Pass 1, along x: every source row, only at the output's columns. (The buffer is re-used: this runs to the end synchronously.)
  if (scratch.length < height * rowOut) scratch = new Float32Array(height * rowOut);
  const across = scratch;
  for (let y = 0; y < height; y++) acrossRow(pixels, y * width * 3, across, y * rowOut, taps.x);
  // Pass 2, along y: whole rows of pass 1, four output rows per read of their four source rows where a run has four.
  // A clamped array rounds and clamps what is stored in it.
  if (out && out.length !== size * rowOut) throw new RangeError(`expected room for ${size * rowOut} bytes, got ${out.length}`);
  const result = out ?? new Uint8ClampedArray(size * rowOut);
  const { index, weight, runs } = taps.y;
  let y = 0;
  for (let r = 0; r < runs.length; r++) {
    const t = y * 4;
    const s0 = index[t] * rowOut;
    const s1 = index[t + 1] * rowOut;
    const s2 = index[t + 2] * rowOut;
    const s3 = index[t + 3] * rowOut;
    for (let left = runs[r]; left > 0; ) {
      const rows = left >= 4 ? 4 : 1;
      if (rows === 4) downFour(across, s0, s1, s2, s3, weight, y * 4, result, y * rowOut, rowOut);
      else downOne(across, s0, s1, s2, s3, weight, y * 4, result, y * rowOut, rowOut);
      y += rows;
      left -= rows;
    }
  }
  return new Uint8Array(result.buffer, result.byteOffset, result.byteLength);
}

/** One source row (3 channels, from `row`) at the output's columns, run by run, into `across` from `out`. */
function acrossRow(pixels: Uint8Array, row: number, across: Float32Array, out: number, { index, weight, runs }: AxisTaps): void {
  let x = 0;
  for (let r = 0; r < runs.length; r++) {
    const t = x * 4;
    const i0 = row + index[t] * 3;
    const i1 = row + index[t + 1] * 3;
    const i2 = row + index[t + 2] * 3;
    const i3 = row + index[t + 3] * 3;
    if (runs[r] === 1) {
      // A run of one (most of them below a scale of 2): as many loads either way, without the run's loop.
      const w0 = weight[t];
      const w1 = weight[t + 1];
      const w2 = weight[t + 2];
      const w3 = weight[t + 3];
      const o = out + x * 3;
      across[o] = pixels[i0] * w0 + pixels[i1] * w1 + pixels[i2] * w2 + pixels[i3] * w3;
      across[o + 1] = pixels[i0 + 1] * w0 + pixels[i1 + 1] * w1 + pixels[i2 + 1] * w2 + pixels[i3 + 1] * w3;
      across[o + 2] = pixels[i0 + 2] * w0 + pixels[i1 + 2] * w1 + pixels[i2 + 2] * w2 + pixels[i3 + 2] * w3;
      x++;
      continue;
    }
    const r0 = pixels[i0];
    const g0 = pixels[i0 + 1];
    const b0 = pixels[i0 + 2];
    const r1 = pixels[i1];
    const g1 = pixels[i1 + 1];
    const b1 = pixels[i1 + 2];
    const r2 = pixels[i2];
    const g2 = pixels[i2 + 1];
    const b2 = pixels[i2 + 2];
    const r3 = pixels[i3];
    const g3 = pixels[i3 + 1];
    const b3 = pixels[i3 + 2];
    const end = x + runs[r];
    for (; x < end; x++) {
      const w = x * 4;
      const w0 = weight[w];
      const w1 = weight[w + 1];
      const w2 = weight[w + 2];
      const w3 = weight[w + 3];
      const o = out + x * 3;
      across[o] = r0 * w0 + r1 * w1 + r2 * w2 + r3 * w3;
      across[o + 1] = g0 * w0 + g1 * w1 + g2 * w2 + g3 * w3;
      across[o + 2] = b0 * w0 + b1 * w1 + b2 * w2 + b3 * w3;
    }
  }
}

// Pass 2's kernels: output rows from `o` (each `length` long) from the same four rows of pass 1 (offsets s0-s3),
// with four weights per output row from `w`. (Plain numbers, not arrays: this runs once per run, thousands of times an image.)

function downFour(a: Float32Array, s0: number, s1: number, s2: number, s3: number, weight: Float32Array, w: number, out: Uint8ClampedArray, o: number, length: number): void {
  const a0 = weight[w], a1 = weight[w + 1], a2 = weight[w + 2], a3 = weight[w + 3]; // prettier-ignore
  const b0 = weight[w + 4], b1 = weight[w + 5], b2 = weight[w + 6], b3 = weight[w + 7]; // prettier-ignore
  const c0 = weight[w + 8], c1 = weight[w + 9], c2 = weight[w + 10], c3 = weight[w + 11]; // prettier-ignore
  const d0 = weight[w + 12], d1 = weight[w + 13], d2 = weight[w + 14], d3 = weight[w + 15]; // prettier-ignore
  const ob = o + length;
  const oc = ob + length;
  const od = oc + length;
  for (let i = 0; i < length; i++) {
    const v0 = a[s0 + i];
    const v1 = a[s1 + i];
    const v2 = a[s2 + i];
    const v3 = a[s3 + i];
    out[o + i] = v0 * a0 + v1 * a1 + v2 * a2 + v3 * a3;
    out[ob + i] = v0 * b0 + v1 * b1 + v2 * b2 + v3 * b3;
    out[oc + i] = v0 * c0 + v1 * c1 + v2 * c2 + v3 * c3;
    out[od + i] = v0 * d0 + v1 * d1 + v2 * d2 + v3 * d3;
  }
}

function downOne(a: Float32Array, s0: number, s1: number, s2: number, s3: number, weight: Float32Array, w: number, out: Uint8ClampedArray, o: number, length: number): void {
  const a0 = weight[w], a1 = weight[w + 1], a2 = weight[w + 2], a3 = weight[w + 3]; // prettier-ignore
  for (let i = 0; i < length; i++) out[o + i] = a[s0 + i] * a0 + a[s1 + i] * a1 + a[s2 + i] * a2 + a[s3 + i] * a3;
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
