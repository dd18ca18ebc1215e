// What the model is fed, apart from decoding (sharp): the inference thread loads this, not the decoder.

/** `pixels` scaled to `range` (0 -> min, 255 -> max), into `out` when given (at least as long). */
export function scalePixels(pixels: Uint8Array, range: readonly [number, number], out = new Float32Array(pixels.length)): Float32Array {
  const [min, max] = range;
  const scale = (max - min) / 255;
  for (let i = 0; i < pixels.length; i++) out[i] = min + pixels[i] * scale;
  return out;
}

/**
 * A batch of n images of inputSize x inputSize x 3 as the model takes it: values
 * already in the model's range, or 8-bit pixels with the range to scale them to
 * (where the model runs, see ModelInputBuffer).
 */
export type ModelInput = Float32Array | { pixels: Uint8Array; range: readonly [number, number] };

/**
 * The model's float input made from a ModelInput, in one buffer re-used from
 * batch to batch, so scaling pixels allocates nothing. The buffer is handed to
 * the model: a caller fills the next batch only once the last run ended.
 */
export class ModelInputBuffer {
  private buffer = new Float32Array(0);

  fill(input: ModelInput): Float32Array {
    if (input instanceof Float32Array) return input;
    const length = input.pixels.length;
    if (this.buffer.length < length) this.buffer = new Float32Array(length);
    return scalePixels(input.pixels, input.range, this.buffer.subarray(0, length));
  }
}

/**
 * Arrays for batches of pixels, re-used: the model thread hands each batch's array back once
 * it has scaled it (both ways transferred, never copied), so a batch costs no 150 KB per image
 * of fresh memory to allocate, zero and free. Kept by length (one per batch size), `keep` of each.
 */
export class PixelBatches {
  private readonly spare = new Map<number, Uint8Array[]>();

  constructor(private readonly keep: number) {}

  /** An array of `length` bytes that owns its whole buffer (so that it can be transferred); its contents are stale. */
  take(length: number): Uint8Array {
    return this.spare.get(length)?.pop() ?? new Uint8Array(length);
  }

  /** Hands an array back for a later batch of its length. */
  give(array: Uint8Array): void {
    if (array.byteOffset !== 0 || array.byteLength !== array.buffer.byteLength) return;
    const spare = this.spare.get(array.length) ?? [];
    if (spare.length < this.keep) spare.push(array);
    this.spare.set(array.length, spare);
  }
}
