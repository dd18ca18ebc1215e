import { ModelLoadError } from './errors';

/** INFERENCE_ENGINE: `auto` runs ONNX Runtime when the model has a model.onnx, else TensorFlow.js. */
export const INFERENCE_ENGINES = ['auto', 'onnx', 'tfjs'] as const;
export type EnginePreference = (typeof INFERENCE_ENGINES)[number];
/** The engine a model actually runs on. */
export type ModelEngine = Exclude<EnginePreference, 'auto'>;

/**
 * INFERENCE_BATCH_SIZE when unset, per engine (tools/bench/src/bench-engines.ts, EfficientNet-B0,
 * one core): ONNX Runtime used 16.1, 13.0, 14.8, 15.7 CPU ms per image at batches of 1, 4, 8, 16;
 * TF.js on wasm gains nothing from batching.
 */
export const DEFAULT_BATCH_SIZE: Record<ModelEngine, number> = { onnx: 4, tfjs: 1 };

/** The ONNX model's file name in a model folder (beside, or instead of, model.json). */
export const ONNX_MODEL_FILE = 'model.onnx';
export const TFJS_MODEL_FILE = 'model.json';

/**
 * The engine for a model that has an ONNX file and/or a TF.js model.json:
 * the one asked for (an error naming the missing file when the model lacks
 * it), or for `auto` ONNX when there is a model.onnx.
 */
export function chooseEngine(preference: EnginePreference, has: { onnx: boolean; tfjs: boolean }, what: string): ModelEngine {
  if (preference === 'onnx' && !has.onnx) throw new ModelLoadError(`INFERENCE_ENGINE=onnx but ${what} has no ${ONNX_MODEL_FILE}`);
  if (preference === 'tfjs' && !has.tfjs) throw new ModelLoadError(`INFERENCE_ENGINE=tfjs but ${what} has no ${TFJS_MODEL_FILE}`);
  if (preference !== 'auto') return preference;
  if (has.onnx) return 'onnx';
  if (has.tfjs) return 'tfjs';
  throw new ModelLoadError(`${what} has neither ${TFJS_MODEL_FILE} nor ${ONNX_MODEL_FILE}`);
}

/** INFERENCE_ENGINE from the environment, for tools that take the worker's variables (the worker validates it in its configuration). */
export function enginePreferenceFromEnv(env: NodeJS.ProcessEnv = process.env): EnginePreference {
  const raw = env['INFERENCE_ENGINE'];
  if (raw === undefined || raw === '') return 'auto';
  if (!(INFERENCE_ENGINES as readonly string[]).includes(raw)) {
    throw new ModelLoadError(`INFERENCE_ENGINE must be one of ${INFERENCE_ENGINES.join(', ')} (got ${JSON.stringify(raw)})`);
  }
  return raw as EnginePreference;
}

/**
 * ONNX Runtime threads per model session: the cores shared out among the
 * model runs that may go on at once on this host, so they do not fight over
 * cores (at least 1).
 */
export function intraOpThreads(cores: number, concurrency: number): number {
  return Math.max(1, Math.floor(cores / Math.max(1, concurrency)));
}
