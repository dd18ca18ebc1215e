import { ModelInputBuffer, PixelBatches, scalePixels } from './model-input';

describe('PixelBatches', () => {
  it('hands out an array given back for the same length, and a new one otherwise', () => {
    const batches = new PixelBatches(2);
    const a = batches.take(12);
    expect(a).toHaveLength(12);
    batches.give(a);
    expect(batches.take(24)).not.toBe(a);
    expect(batches.take(12)).toBe(a);
    expect(batches.take(12)).not.toBe(a);
  });

  it('keeps at most `keep` of each length, and never a view of a larger buffer (it could not be transferred)', () => {
    const batches = new PixelBatches(1);
    const [a, b] = [batches.take(6), batches.take(6)];
    batches.give(a);
    batches.give(b);
    expect(batches.take(6)).toBe(a);
    expect(batches.take(6)).not.toBe(b);
    const view = new Uint8Array(new ArrayBuffer(12), 6, 6);
    batches.give(view);
    expect(batches.take(6)).not.toBe(view);
  });
});

describe('ModelInputBuffer', () => {
  it('scales pixels into one buffer re-used from batch to batch', () => {
    const input = new ModelInputBuffer();
    const first = input.fill({ pixels: Uint8Array.from([0, 255, 51]), range: [-1, 1] });
    [-1, 1, -0.6].forEach((v, i) => expect(first[i]).toBeCloseTo(v, 6));
    const second = input.fill({ pixels: Uint8Array.from([255, 0, 0]), range: [0, 1] });
    expect(second.buffer).toBe(first.buffer);
    expect(Array.from(second)).toEqual(Array.from(scalePixels(Uint8Array.from([255, 0, 0]), [0, 1])));
  });
});
