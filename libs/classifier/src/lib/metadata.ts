import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ModelLoadError } from './errors';
import type { OutputActivation } from './labels';
import type { ModelJsonFile } from './model-files';

/** The file beside model.json that tells what the model itself does not. */
export const METADATA_FILE = 'metadata.json';

/** sharp's resize kernels (https://sharp.pixelplumbing.com/api-resize). */
export const RESIZE_KERNELS = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3', 'mks2013', 'mks2021'] as const;
export type ResizeKernel = (typeof RESIZE_KERNELS)[number];

/**
 * What a model needs besides its weights. Read from `metadata.json` beside
 * model.json (Teachable Machine's `imageSize` and `labels` are understood too)
 * and from model.json's `userDefinedMetadata`; the file wins.
 */
export interface ModelMetadata {
  name?: string;
  /** Square input side, pixels. */
  inputSize?: number;
  /** Pixel 0 maps to min, 255 to max. */
  inputRange?: [number, number];
  /** Side of the centred square the model sees, as a fraction of the shorter edge (1: the largest square). */
  cropFraction?: number;
  /** sharp's kernel for the resize to inputSize. */
  resizeKernel?: ResizeKernel;
  /** Output index of class 0 (1 when output 0 is "background"). */
  labelOffset?: number;
  labels?: string[];
  /** `logits` (softmax applied here) or `probabilities` (alias `softmax`: the model applies it). */
  outputActivation?: OutputActivation;
  /** Graph models with several inputs or outputs: the tensors to feed and to read. */
  inputName?: string;
  outputName?: string;
}

type Raw = Record<string, unknown>;

function pick(raw: Raw, where: string): ModelMetadata {
  const bad = (field: string, want: string) => new ModelLoadError(`${where}: ${field} must be ${want}`);
  const m: ModelMetadata = {};
  const str = (field: string, value: unknown): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw bad(field, 'a non-empty string');
    return value;
  };
  m.name = str('name', raw['name'] ?? raw['modelName']);
  const size = raw['inputSize'] ?? raw['imageSize'];
  if (size !== undefined) {
    if (!Number.isInteger(size) || (size as number) < 8) throw bad('inputSize', 'an integer of at least 8');
    m.inputSize = size as number;
  }
  const range = raw['inputRange'];
  if (range !== undefined) {
    if (!Array.isArray(range) || range.length !== 2 || !range.every(Number.isFinite) || !(range[0] < range[1])) {
      throw bad('inputRange', '[min, max] with min < max');
    }
    m.inputRange = [range[0], range[1]];
  }
  const crop = raw['cropFraction'];
  if (crop !== undefined) {
    if (typeof crop !== 'number' || !(crop > 0 && crop <= 1)) throw bad('cropFraction', 'a number in (0, 1]');
    m.cropFraction = crop;
  }
  const kernel = raw['resizeKernel'];
  if (kernel !== undefined) {
    if (!RESIZE_KERNELS.includes(kernel as ResizeKernel)) throw bad('resizeKernel', `one of ${RESIZE_KERNELS.join(', ')}`);
    m.resizeKernel = kernel as ResizeKernel;
  }
  const offset = raw['labelOffset'];
  if (offset !== undefined) {
    if (!Number.isInteger(offset) || (offset as number) < 0) throw bad('labelOffset', 'an integer of at least 0');
    m.labelOffset = offset as number;
  }
  const labels = raw['labels'];
  if (labels !== undefined) {
    if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) throw bad('labels', 'an array of strings');
    m.labels = labels;
  }
  const activation = raw['outputActivation'];
  if (activation !== undefined) {
    if (activation === 'logits') m.outputActivation = 'logits';
    else if (activation === 'probabilities' || activation === 'softmax') m.outputActivation = 'probabilities';
    else throw bad('outputActivation', '"logits", or "softmax" (or "probabilities") when the model applies the softmax itself');
  }
  m.inputName = str('inputName', raw['inputName']);
  m.outputName = str('outputName', raw['outputName']);
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as ModelMetadata;
}

/**
 * The model's metadata: model.json's userDefinedMetadata (TF.js models), overridden by
 * `metadataPath` (default: metadata.json beside the model file) when it exists.
 */
export function readModelMetadata(modelPath: string, json: ModelJsonFile | undefined, metadataPath?: string): ModelMetadata {
  const fromModel = json?.userDefinedMetadata ? pick(json.userDefinedMetadata, `${modelPath} userDefinedMetadata`) : {};
  const file = metadataPath ?? join(dirname(modelPath), METADATA_FILE);
  if (!existsSync(file)) {
    if (metadataPath) throw new ModelLoadError(`the model's metadata ${file} does not exist`);
    return fromModel;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelLoadError(`${file}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ModelLoadError(`${file} must be a JSON object`);
  return { ...fromModel, ...pick(raw as Raw, file) };
}
