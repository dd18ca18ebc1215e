import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMAGENET_LABELS, readLabelsFile, softmax, topPredictions } from './labels';

/** Logits with the given outputs raised, the rest 0. */
function logits(size: number, raised: Record<number, number>): Float32Array {
  const out = new Float32Array(size);
  for (const [i, v] of Object.entries(raised)) out[Number(i)] = v;
  return out;
}

describe('label mapping', () => {
  it('maps 1001 outputs (output 0 = background) to ImageNet classes with offset 1', () => {
    const top = topPredictions(logits(1001, { 1: 9, 282: 8, 0: 20 }), { labels: IMAGENET_LABELS, labelOffset: 1 });
    // Background takes part in the softmax but is never reported.
    expect(top[0]).toMatchObject({ label: 'tench', classIndex: 0 });
    expect(top[1]).toMatchObject({ label: 'tabby cat', classIndex: 281 });
    expect(top.every((p) => p.classIndex >= 0)).toBe(true);
    expect(top[0].confidence).toBeLessThan(0.01);
  });

  it('maps 1000 outputs with offset 0', () => {
    const top = topPredictions(logits(1000, { 0: 5, 999: 7 }), { labels: IMAGENET_LABELS, labelOffset: 0 });
    expect(top.map((p) => p.label).slice(0, 2)).toEqual(['toilet paper', 'tench']);
    expect(top.map((p) => p.classIndex).slice(0, 2)).toEqual([999, 0]);
  });

  it('gives the top-5 in order with softmax confidences', () => {
    const out = logits(1000, { 10: 5, 20: 4, 30: 3, 40: 2, 50: 1, 60: 0.5 });
    const top = topPredictions(out, { labels: IMAGENET_LABELS, labelOffset: 0 });
    expect(top.map((p) => p.classIndex)).toEqual([10, 20, 30, 40, 50]);
    const probs = softmax(out);
    top.forEach((p) => expect(p.confidence).toBeCloseTo(probs[p.classIndex], 6));
    for (let i = 1; i < top.length; i++) expect(top[i].confidence).toBeLessThanOrEqual(top[i - 1].confidence);
  });

  it('does not apply softmax twice to a model that outputs probabilities', () => {
    const probs = new Float32Array(10).fill(0.05);
    probs[3] = 0.55;
    const labels = Array.from({ length: 10 }, (_, i) => `c${i}`);
    expect(topPredictions(probs, { labels, labelOffset: 0 })[0]).toEqual({ label: 'c3', classIndex: 3, confidence: expect.closeTo(0.55, 5) });
    expect(topPredictions(probs, { labels, labelOffset: 0, activation: 'logits' })[0].confidence).toBeLessThan(0.2);
  });

  it('softmax is stable for large logits', () => {
    const p = softmax([1000, 1000, -1000]);
    expect(Array.from(p)).toEqual([0.5, 0.5, 0]);
  });

  it('names a class without a label "class N"', () => {
    expect(topPredictions(logits(12, { 11: 9 }), { labels: ['a', 'b'], labelOffset: 1 }, 1)[0]).toMatchObject({
      label: 'class 10',
      classIndex: 10,
    });
  });

  it('reads labels from a JSON array or one per line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'labels-'));
    writeFileSync(join(dir, 'a.json'), '["cat", "dog"]');
    writeFileSync(join(dir, 'b.txt'), 'cat\r\ndog\n');
    expect(readLabelsFile(join(dir, 'a.json'))).toEqual(['cat', 'dog']);
    expect(readLabelsFile(join(dir, 'b.txt'))).toEqual(['cat', 'dog']);
    expect(() => readLabelsFile(join(dir, 'missing.json'))).toThrow(/cannot read the labels file/);
  });

  it('embeds the 1000 distinct ImageNet-1k class names in class-index order', () => {
    expect(IMAGENET_LABELS).toHaveLength(1000);
    expect(new Set(IMAGENET_LABELS).size).toBe(1000);
    expect([IMAGENET_LABELS[0], IMAGENET_LABELS[2], IMAGENET_LABELS[281], IMAGENET_LABELS[999]]).toEqual([
      'tench',
      'great white shark',
      'tabby cat',
      'toilet paper',
    ]);
  });
});
