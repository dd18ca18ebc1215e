import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ModelLoadError } from './errors';
import type { OutputActivation } from './labels';
import type { ModelJsonFile } from './model-files';

/** The file beside model.json that tells what the model itself does not. */
export const METADATA_FILE = 'metadata.json';

/**
 * What a model needs besides its weights. Read from `metadata.json` beside
 * model.json (Teachable Machine's `imageSize` and `labels` are understood too)
 * and from model.json's `userDefinedMetadata`; the file wins.
 */
export interface ModelMetadata {
  name?: string;
  inputSize?: number;
  inputRange?: [number, number];
  labelOffset?: number;
  labels?: string[];
  outputActivation?: OutputActivation;
}

function pick(raw: Record<string, unknown>, where: string): ModelMetadata {
  const bad = (field: string, want: string) => new ModelLoadError(`${where}: ${field} must be ${want}`);
  const m: ModelMetadata = {};
  const name = raw['name'] ?? raw['modelName'];
  if (name !== undefined) {
    if (typeof name !== 'string') throw bad('name', 'a string');
    m.name = name;
  }
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
    if (activation !== 'logits' && activation !== 'probabilities') throw bad('outputActivation', '"logits" or "probabilities"');
    m.outputActivation = activation;
  }
  return m;
}

export function readModelMetadata(modelJsonPath: string, json: ModelJsonFile): ModelMetadata {
  const fromModel = json.userDefinedMetadata ? pick(json.userDefinedMetadata, `${modelJsonPath} userDefinedMetadata`) : {};
  const file = join(dirname(modelJsonPath), METADATA_FILE);
  if (!existsSync(file)) return fromModel;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelLoadError(`${file}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ModelLoadError(`${file} must be a JSON object`);
  return { ...fromModel, ...pick(raw as Record<string, unknown>, file) };
}
