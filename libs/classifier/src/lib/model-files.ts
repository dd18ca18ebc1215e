import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { ModelLoadError } from './errors';

/** The parts of a TF.js model.json this library reads (no TensorFlow.js import needed). */
export interface ModelJsonFile {
  format?: string;
  generatedBy?: string;
  modelTopology?: { node?: unknown[]; class_name?: string; model_config?: unknown; config?: unknown };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
  userDefinedMetadata?: Record<string, unknown>;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string };
}

export type ModelFormat = 'graph' | 'layers';

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

export function readModelJson(path: string): ModelJsonFile {
  let json: ModelJsonFile;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as ModelJsonFile;
  } catch (err) {
    throw new ModelLoadError(`cannot read the model ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!json || typeof json !== 'object' || !Array.isArray(json.weightsManifest) || !json.modelTopology) {
    throw new ModelLoadError(`${path} is not a TensorFlow.js model.json (no modelTopology or weightsManifest)`);
  }
  for (const group of json.weightsManifest) for (const p of group.paths) safeRelativePath(p, path);
  return json;
}

/** A graph model (converted TF SavedModel/frozen graph) or a layers model (Keras). */
export function modelFormat(json: ModelJsonFile): ModelFormat {
  if (json.format === 'graph-model' || Array.isArray(json.modelTopology?.node)) return 'graph';
  return 'layers';
}

/**
 * Weight file paths are relative to model.json and must stay beside it (and,
 * for a downloaded model, on its origin): no absolute paths, no `..`, no
 * scheme, no backslash, `?`, `#`, `%` or control character (a URL resolver
 * reads a backslash as a slash, so `\\evil.host\x` would be `//evil.host/x`;
 * `%2e%2e` would be `..`).
 */
export function safeRelativePath(p: string, modelJsonPath: string): string {
  const n = normalize(p);
  if (
    p === '' ||
    isAbsolute(p) ||
    n === '..' ||
    n.startsWith(`..${sep}`) ||
    n.includes(`${sep}..${sep}`) ||
    /^[a-z][a-z0-9+.-]*:/i.test(p) ||
    /[\\?#%]/.test(p) ||
    [...p].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)
  ) {
    throw new ModelLoadError(`${modelJsonPath}: weight path "${p}" must be a file beside model.json`);
  }
  return n;
}

/** Bytes a weight group must take on disk, or undefined when it cannot be told (string weights). */
export function expectedGroupBytes(weights: WeightSpec[]): number | undefined {
  let total = 0;
  for (const w of weights) {
    const dtype = w.quantization?.dtype ?? w.dtype;
    const bytes = DTYPE_BYTES[dtype];
    if (bytes === undefined) return undefined;
    total += w.shape.reduce((a, b) => a * b, 1) * bytes;
  }
  return total;
}

/**
 * Checks that every weight file exists and that each group's files add up to
 * the bytes its manifest describes (a truncated or wrong download fails here,
 * not at the first inference). Returns the total weight bytes.
 */
export function verifyWeightFiles(modelJsonPath: string, json: ModelJsonFile): number {
  const dir = dirname(modelJsonPath);
  let total = 0;
  for (const [i, group] of json.weightsManifest.entries()) {
    let actual = 0;
    for (const p of group.paths) {
      const file = join(dir, safeRelativePath(p, modelJsonPath));
      try {
        actual += statSync(file).size;
      } catch {
        throw new ModelLoadError(`${modelJsonPath}: weight file ${p} is missing`);
      }
    }
    const expected = expectedGroupBytes(group.weights);
    if (expected !== undefined && expected !== actual) {
      throw new ModelLoadError(
        `${modelJsonPath}: weight group ${i} (${group.paths.join(', ')}) takes ${actual} bytes, the manifest says ${expected}`,
      );
    }
    total += actual;
  }
  return total;
}

/** model.json's path for MODEL_DIR given as a folder or as the model.json itself. */
export function modelJsonPathOf(modelDirOrFile: string): string {
  return basename(modelDirOrFile).endsWith('.json') ? modelDirOrFile : join(modelDirOrFile, 'model.json');
}
