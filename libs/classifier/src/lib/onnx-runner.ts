import { statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { ModelLoadError } from './errors';
import type { ClassifierLogger } from './logger';
import type { ModelRunnerLike, RunnerInfo, RunnerOptions } from './model-runner';

const bare = (name: string) => name.replace(/:0$/, '');

/**
 * One ONNX model in an ONNX Runtime session (CPU): float32 NHWC batches of
 * size x size x 3 in, as the TF.js engine takes them (a converted graph
 * transposes inside), one output vector per image out. Runs are serialised:
 * the session's intra-op threads already share one run out among the cores
 * it was given, and two runs at once would fight over them.
 */
export class OnnxRunner implements ModelRunnerLike {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly info: RunnerInfo,
    private readonly inputName: string,
    private readonly outputName: string,
  ) {}

  static async load(options: RunnerOptions, log: ClassifierLogger): Promise<OnnxRunner> {
    const path = options.modelPath;
    const threads = Math.max(1, options.threads ?? 1);
    const started = performance.now();
    let session: ort.InferenceSession;
    try {
      statSync(path);
      session = await ort.InferenceSession.create(path, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        // Memory patterns are planned on a shape's first run and used from its second: with
        // batches of 1 to maxBatch that planning came back for each size, and the second run
        // at 4 still took 134 ms against 33 without (EfficientNet-B0, one thread); later runs
        // cost the same either way (8.3 ms of CPU per image, mixed sizes).
        enableMemPattern: false,
      });
    } catch (err) {
      throw new ModelLoadError(`cannot load the ONNX model ${path}: ${(err as Error).message}`, { cause: err });
    }
    const loadMs = performance.now() - started;
    const inputName = pickName(session.inputNames, options.inputName, 'inputName', 'input', path);
    const outputName = pickName(session.outputNames, options.outputName, 'outputName', 'output', path);
    const inputSize = options.inputSize ?? 224;
    const info: RunnerInfo = { backend: 'onnxruntime-cpu', engine: 'onnx', format: 'onnx', inputSize, outputSize: 0, loadMs, warmupMs: 0, threads };
    const runner = new OnnxRunner(session, info, inputName, outputName);
    const warmStarted = performance.now();
    let output: Float32Array;
    try {
      output = await runner.run(new Float32Array(inputSize * inputSize * 3), 1);
    } catch (err) {
      await session.release();
      throw new ModelLoadError(
        `${path}: a ${inputSize}x${inputSize}x3 input fails (${(err as Error).message}); set MODEL_INPUT_SIZE to the model's input size`,
        { cause: err },
      );
    }
    info.outputSize = output.length;
    // The first run at a size grows the memory arena for it (172 ms at 4 images against 41 later):
    // paid here at the largest batch rather than by the first images a worker takes.
    const largest = options.warmupBatch ?? 1;
    if (largest > 1) {
      try {
        await runner.run(new Float32Array(largest * inputSize * inputSize * 3), largest);
      } catch (err) {
        await session.release();
        throw new ModelLoadError(`${path}: a batch of ${largest} fails (${(err as Error).message}); set INFERENCE_BATCH_SIZE=1 for a model of fixed batch size`, { cause: err });
      }
    }
    info.warmupMs = performance.now() - warmStarted;
    log.info({ engine: 'onnx', threads, inputName, outputName }, 'ONNX Runtime session ready');
    return runner;
  }

  /** `n` images, each size x size x 3 (NHWC), in one Float32Array; returns n x outputSize values. */
  run(batch: Float32Array, n: number): Promise<Float32Array> {
    const next = this.queue.then(() => this.runNow(batch, n));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runNow(batch: Float32Array, n: number): Promise<Float32Array> {
    const size = this.info.inputSize;
    const input = new ort.Tensor('float32', batch, [n, size, size, 3]);
    const result = await this.session.run({ [this.inputName]: input }, [this.outputName]);
    const out = result[this.outputName];
    if (out.type !== 'float32') throw new ModelLoadError(`the model's output ${this.outputName} is ${out.type}, not float32`);
    return out.data as Float32Array;
  }

  /** ONNX Runtime's tensors are plain JavaScript objects, collected like any other: none are held here between runs. */
  numTensors(): number {
    return 0;
  }

  dispose(): void {
    void this.session.release();
  }
}

/** The tensor metadata names (TF-style `name:0` accepted), else the model's first; a clear error for a name it lacks. */
function pickName(names: readonly string[], wanted: string | undefined, field: string, kind: string, where: string): string {
  if (!wanted) return names[0];
  const found = names.find((n) => bare(n) === bare(wanted));
  if (!found) throw new ModelLoadError(`${where}: metadata's ${field} "${wanted}" is not an ${kind} of the model (${names.join(', ')})`);
  return found;
}
