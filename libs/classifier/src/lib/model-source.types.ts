import type { ModelEngine } from './engine-choice';

/** A model ready to load: where its file is, which engine runs it, and what was verified about it. */
export interface ModelSource {
  /** The engine that runs it. */
  engine: ModelEngine;
  /** The file the engine loads: model.json (tfjs) or model.onnx (onnx). */
  modelPath: string;
  /** A short name for results and logs: the model's folder name (or the URL's); metadata's name wins. */
  name: string;
  /** Bytes of weights (TF.js: verified against the manifest; ONNX: the file). */
  weightBytes: number;
  /** SHA-256 of the model file (modelPath). */
  modelSha256: string;
  /** metadata.json to read, when it is not beside the model file (the default model in the source tree). */
  metadataPath?: string;
  url?: string;
  /** True when the model came from the cache without a download. */
  cached?: boolean;
  /** True for the default model (no MODEL_DIR or MODEL_URL). */
  isDefault?: boolean;
}
