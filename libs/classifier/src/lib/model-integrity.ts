import { readFileSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { checksumsBeside, isSha256, readChecksums, sha256Hex, verifyChecksums } from './checksums';
import { ModelIntegrityError, ModelLoadError } from './errors';
import { readModelJson, safeRelativePath, verifyWeightFiles, type ModelJsonFile } from './model-files';

export interface IntegrityOptions {
  /** MODEL_SHA256: the SHA-256 of model.json that must be loaded. */
  modelSha256?: string;
  /** A SHA256SUMS file to check the model's files against (default: SHA256SUMS beside model.json, if any). */
  checksumsPath?: string;
  /** Every model file (model.json and each weight file) must have a checksum. */
  requireChecksums?: boolean;
  /** Names the model in errors (e.g. "MODEL_URL https://...", "the default model"). */
  what?: string;
}

export interface VerifiedModel {
  json: ModelJsonFile;
  weightBytes: number;
  modelSha256: string;
  /** Files checked by SHA-256 (besides the manifest's byte sizes). */
  hashedFiles: number;
}

/** Weight hashes model.json may carry itself (pinned, with it, by MODEL_SHA256). */
function weightHashesInModel(json: ModelJsonFile, where: string): [string, string][] {
  const raw = json.userDefinedMetadata?.['weightsSha256'];
  if (raw === undefined) return [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ModelLoadError(`${where}: userDefinedMetadata.weightsSha256 must map weight files to SHA-256s`);
  }
  return Object.entries(raw).map(([file, hash]) => {
    if (typeof hash !== 'string' || !isSha256(hash.toLowerCase())) throw new ModelLoadError(`${where}: weightsSha256["${file}"] is not a SHA-256`);
    return [safeRelativePath(file, where), hash.toLowerCase()];
  });
}

/** The model file's SHA-256 (model.json, or model.onnx), checked against MODEL_SHA256 when one is given. */
export function checkModelSha256(modelPath: string, pin: string | undefined, what: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(modelPath);
  } catch (err) {
    throw new ModelLoadError(`${what}: cannot read ${modelPath}: ${(err as Error).message}`, { cause: err });
  }
  const actual = sha256Hex(bytes);
  if (pin !== undefined && pin.toLowerCase() !== actual) {
    throw new ModelIntegrityError(
      `MODEL_SHA256 does not match: ${what}: ${basename(modelPath)} has SHA-256 ${actual}, MODEL_SHA256 is ${pin.toLowerCase()}; refusing to load it`,
    );
  }
  return actual;
}

/**
 * An ONNX model is one file: checked against MODEL_SHA256 and against its
 * checksums file (`checksumsPath`, else SHA256SUMS beside it, if any), which
 * must list it when `requireChecksums` is set.
 */
export function verifyOnnxModel(onnxPath: string, options: IntegrityOptions = {}): { weightBytes: number; modelSha256: string; hashedFiles: number } {
  const what = options.what ?? onnxPath;
  const modelSha256 = checkModelSha256(onnxPath, options.modelSha256, what);
  const dir = dirname(onnxPath);
  const sums = options.checksumsPath ? readChecksums(options.checksumsPath) : (checksumsBeside(dir) ?? new Map<string, string>());
  const name = basename(onnxPath);
  // The one file was hashed just above: its hash is checked, not computed again (21 MB for the default model).
  verifyChecksums(dir, sums, options.requireChecksums ? [name] : [], what, new Map([[name, modelSha256]]));
  return { weightBytes: statSync(onnxPath).size, modelSha256, hashedFiles: sums.size };
}

/**
 * Everything checked before a model is loaded: model.json against MODEL_SHA256,
 * every weight file against the manifest's byte sizes, and every file listed in
 * SHA256SUMS or in model.json's `userDefinedMetadata.weightsSha256` against its
 * SHA-256. Throws ModelIntegrityError (or ModelLoadError) naming the file.
 */
export function verifyModel(modelJsonPath: string, options: IntegrityOptions = {}): VerifiedModel {
  const what = options.what ?? modelJsonPath;
  const modelSha256 = checkModelSha256(modelJsonPath, options.modelSha256, what);
  const json = readModelJson(modelJsonPath);
  const weightBytes = verifyWeightFiles(modelJsonPath, json);
  const dir = dirname(modelJsonPath);
  const sums = options.checksumsPath ? readChecksums(options.checksumsPath) : (checksumsBeside(dir) ?? new Map<string, string>());
  for (const [file, hash] of weightHashesInModel(json, what)) {
    if (sums.has(file) && sums.get(file) !== hash) throw new ModelIntegrityError(`${what}: SHA256SUMS and model.json disagree on ${file}`);
    sums.set(file, hash);
  }
  const modelJsonName = basename(modelJsonPath);
  const weightFiles = json.weightsManifest.flatMap((g) => g.paths.map((p) => safeRelativePath(p, modelJsonPath)));
  const required = options.requireChecksums ? [modelJsonName, ...weightFiles] : [];
  verifyChecksums(dir, sums, required, what);
  return { json, weightBytes, modelSha256, hashedFiles: sums.size };
}
