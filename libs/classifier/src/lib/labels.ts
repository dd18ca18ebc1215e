import { readFileSync } from 'node:fs';
import { ModelLoadError } from './errors';
import imagenetLabels from './imagenet-labels.json';

/**
 * The 1000 ImageNet-1k class names in class-index order (0 = "tench"): the
 * vocabulary of every ImageNet classifier, used when neither MODEL_LABELS_FILE
 * nor the model's metadata.json names its classes.
 */
export const IMAGENET_LABELS: readonly string[] = imagenetLabels;

/** Reads class names: a JSON array of strings, or one name per line. */
export function readLabelsFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ModelLoadError(`cannot read the labels file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const parsed: unknown = JSON.parse(trimmed);
    if (!Array.isArray(parsed) || !parsed.every((l) => typeof l === 'string')) {
      throw new ModelLoadError(`${path} must be a JSON array of strings`);
    }
    return parsed;
  }
  return trimmed.split(/\r?\n/).map((l) => l.trim());
}

export interface Prediction {
  label: string;
  /** Class index in the label list (output index minus the label offset). */
  classIndex: number;
  confidence: number;
}

export type OutputActivation = 'logits' | 'probabilities' | 'auto';

/** Numerically stable softmax. */
export function softmax(logits: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** A model whose last layer is already a softmax: every output in [0, 1] and they sum to 1. */
function looksLikeProbabilities(values: ArrayLike<number>): boolean {
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] < 0 || values[i] > 1) return false;
    sum += values[i];
  }
  return Math.abs(sum - 1) < 1e-3;
}

export interface LabelMapping {
  labels: readonly string[];
  /** Output index of class 0: 1 for 1001-output models whose output 0 is "background". */
  labelOffset: number;
  activation?: OutputActivation;
}

/**
 * The k most likely classes of one image's model output, with softmax
 * confidences. Outputs below the label offset (e.g. "background") take part
 * in the softmax but are never reported.
 */
export function topPredictions(output: ArrayLike<number>, mapping: LabelMapping, k = 5): Prediction[] {
  const activation = mapping.activation ?? 'auto';
  const probs =
    activation === 'probabilities' || (activation === 'auto' && looksLikeProbabilities(output))
      ? output
      : softmax(output);
  // Partial selection: k is tiny next to the 1000 outputs.
  const best: { index: number; p: number }[] = [];
  for (let i = mapping.labelOffset; i < probs.length; i++) {
    const p = probs[i];
    if (best.length === k && p <= best[k - 1].p) continue;
    let at = best.length;
    while (at > 0 && best[at - 1].p < p) at--;
    best.splice(at, 0, { index: i, p });
    if (best.length > k) best.pop();
  }
  return best.map(({ index, p }) => {
    const classIndex = index - mapping.labelOffset;
    return {
      label: mapping.labels[classIndex] ?? `class ${classIndex}`,
      classIndex,
      confidence: Math.min(1, Math.max(0, p)),
    };
  });
}
