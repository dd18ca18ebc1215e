import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from './backend';
import type { BackendPreference } from './backend-types';
import type { ModelEngine } from './engine-choice';
import { ModelLoadError } from './errors';
import type { ClassifierLogger } from './logger';
import { modelFormat, readModelJson, safeRelativePath, type ModelFormat } from './model-files';

/**
 * Loads model.json and its weights from the file system. `file://` URLs work
 * only with tfjs-node; this handler works on every backend. Weight files are
 * joined in weightsManifest order, as TF.js expects.
 */
export function fileSystemIOHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = readModelJson(modelJsonPath);
      const dir = dirname(modelJsonPath);
      return tf.io.getModelArtifactsForJSON(json as unknown as tf.io.ModelJSON, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const buffers = manifest.flatMap((group) =>
          group.paths.map((p) => readFileSync(join(dir, safeRelativePath(p, modelJsonPath)))),
        );
        const all = Buffer.concat(buffers);
        return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer];
      });
    },
  };
}

export interface RunnerOptions {
  /** `tfjs` (default): TensorFlow.js on `backend`; `onnx`: ONNX Runtime. */
  engine?: ModelEngine;
  /** The file the engine loads: model.json (tfjs) or model.onnx (onnx). */
  modelPath: string;
  /** TensorFlow.js backend (the tfjs engine only). */
  backend: BackendPreference;
  /** ONNX Runtime threads for one run (the onnx engine only); default 1. */
  threads?: number;
  /** From configuration or metadata; else the model's own input shape; else 224. */
  inputSize?: number;
  /** The largest batch the model will be given: the onnx engine runs one at load, so that the first images do not pay for it. */
  warmupBatch?: number;
  /** Graph models (from metadata): the input tensor to feed and the output tensor to read; default: the model's first. */
  inputName?: string;
  outputName?: string;
}

export interface RunnerInfo {
  /** The TF.js backend, or `onnxruntime-cpu`. */
  backend: string;
  engine: ModelEngine;
  format: ModelFormat | 'onnx';
  /** ONNX Runtime's intra-op threads (onnx engine). */
  threads?: number;
  inputSize: number;
  /** Values per image the model outputs (e.g. 1001). */
  outputSize: number;
  loadMs: number;
  warmupMs: number;
}

type Model = tf.GraphModel | tf.LayersModel;

/** What both engines' runners do (this class for TF.js, OnnxRunner for ONNX Runtime). */
export interface ModelRunnerLike {
  readonly info: RunnerInfo;
  run(batch: Float32Array, n: number): Promise<Float32Array>;
  numTensors(): number;
  dispose(): void;
}

/**
 * One loaded model on one backend: float32 batches of size x size x 3 in,
 * one output vector per image out. Owns every tensor it makes.
 */
export class ModelRunner implements ModelRunnerLike {
  private constructor(
    private readonly model: Model,
    readonly info: RunnerInfo,
    private readonly names: { input?: string; output?: string } = {},
  ) {}

  static async load(options: RunnerOptions, log: ClassifierLogger): Promise<ModelRunner> {
    const backend = await selectBackend(options.backend, log);
    const started = performance.now();
    const json = readModelJson(options.modelPath);
    const format = modelFormat(json);
    const handler = fileSystemIOHandler(options.modelPath);
    let model: Model;
    try {
      model = format === 'graph' ? await tf.loadGraphModel(handler) : await tf.loadLayersModel(handler);
    } catch (err) {
      throw new ModelLoadError(`cannot load ${format} model ${options.modelPath}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const loadMs = performance.now() - started;
    const names = { input: options.inputName, output: options.outputName };
    if (model instanceof tf.GraphModel) checkTensorNames(model, names, options.modelPath);
    const shape = model.inputs[0]?.shape ?? [];
    const modelSize = shape.length === 4 && (shape[1] ?? -1) > 0 ? Number(shape[1]) : undefined;
    if (shape.length === 4 && shape[3] !== 3 && (shape[3] ?? -1) > 0) {
      throw new ModelLoadError(`${options.modelPath}: the model takes ${shape[3]} channels; only RGB (3) is supported`);
    }
    const inputSize = options.inputSize ?? modelSize ?? 224;
    // Warm-up: the first call compiles kernels and allocates; it also tells the output size
    // and fails now, not at the first image, when the input size is wrong.
    const warmStarted = performance.now();
    let output: Float32Array;
    const runner = new ModelRunner(model, { backend, engine: 'tfjs', format, inputSize, outputSize: 0, loadMs, warmupMs: 0 }, names);
    try {
      output = await runner.run(new Float32Array(inputSize * inputSize * 3), 1);
    } catch (err) {
      throw new ModelLoadError(
        `${options.modelPath}: a ${inputSize}x${inputSize}x3 input fails (${(err as Error).message}); set MODEL_INPUT_SIZE to the model's input size`,
        { cause: err },
      );
    }
    runner.info.outputSize = output.length;
    runner.info.warmupMs = performance.now() - warmStarted;
    return runner;
  }

  /** `n` images, each size x size x 3, in one Float32Array; returns n x outputSize values. */
  async run(batch: Float32Array, n: number): Promise<Float32Array> {
    const size = this.info.inputSize;
    const input = tf.tensor4d(batch, [n, size, size, 3], 'float32');
    let output: tf.Tensor | undefined;
    try {
      output = tf.tidy(() => {
        const out = this.forward(input);
        const first = Array.isArray(out) ? out[0] : out instanceof tf.Tensor ? out : Object.values(out)[0];
        return first.reshape([n, -1]);
      });
      return (await output.data()) as Float32Array;
    } finally {
      input.dispose();
      output?.dispose();
    }
  }

  private forward(input: tf.Tensor4D): tf.Tensor | tf.Tensor[] | tf.NamedTensorMap {
    const { input: inputName, output: outputName } = this.names;
    if (this.model instanceof tf.GraphModel && (inputName || outputName)) {
      return this.model.execute(inputName ? { [inputName]: input } : input, outputName);
    }
    return this.model.predict(input);
  }

  numTensors(): number {
    return tf.memory().numTensors;
  }

  dispose(): void {
    this.model.dispose();
  }
}

const bare = (name: string) => name.replace(/:0$/, '');

/** Names from metadata must be the graph's own: a clear start-up error, not a failed warm-up. */
function checkTensorNames(model: tf.GraphModel, names: { input?: string; output?: string }, where: string): void {
  const inputs = model.inputNodes.map(bare);
  const outputs = model.outputNodes.map(bare);
  if (names.input && !inputs.includes(bare(names.input))) {
    throw new ModelLoadError(`${where}: metadata's inputName "${names.input}" is not an input of the model (${inputs.join(', ')})`);
  }
  if (names.output && !outputs.includes(bare(names.output))) {
    throw new ModelLoadError(`${where}: metadata's outputName "${names.output}" is not an output of the model (${outputs.join(', ')})`);
  }
}
