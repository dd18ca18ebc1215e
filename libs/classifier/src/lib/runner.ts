import type { ClassifierLogger } from './logger';
import type { ModelRunnerLike, RunnerOptions } from './model-runner';

/**
 * Loads the model on its engine. Each engine's code is required only when it
 * is used, so a process (or inference thread) running ONNX never loads
 * TensorFlow.js, and one running TF.js never loads ONNX Runtime.
 */
export async function loadRunner(options: RunnerOptions, log: ClassifierLogger): Promise<ModelRunnerLike> {
  if (options.engine === 'onnx') {
    const { OnnxRunner } = require('./onnx-runner') as typeof import('./onnx-runner');
    return OnnxRunner.load(options, log);
  }
  const { ModelRunner } = require('./model-runner') as typeof import('./model-runner');
  return ModelRunner.load(options, log);
}
