import { availableParallelism, cpus } from 'node:os';
import type { WorkerSettings } from '@app/config';
import type { BackendPreference } from './backend-types';
import { LocalEngine, ThreadEngine, type EngineInfo, type InferenceEngine } from './engine';
import { DEFAULT_BATCH_SIZE, enginePreferenceFromEnv, intraOpThreads, type EnginePreference } from './engine-choice';
import type { RunnerOptions } from './model-runner';
import { ModelLoadError } from './errors';
import { IMAGENET_LABELS, readLabelsFile, topPredictions, type LabelMapping, type Prediction } from './labels';
import { silentLogger, type ClassifierLogger } from './logger';
import { readModelMetadata, type ModelMetadata, type ResizeKernel } from './metadata';
import { readModelJson } from './model-files';
import { resolveModelSource, type ModelSource } from './model-source';
import { PixelBatches, type ModelInput } from './model-input';
import { decodeImage, type DecodedImage, type PreprocessOptions } from './preprocess';
import { DecodeLanes } from './decode-lanes';
import { feedingThreadsNice, lowerOtherThreads } from './thread-priority';

export interface ClassifierOptions {
  modelDir?: string;
  modelUrl?: string;
  /** MODEL_SHA256: the SHA-256 of the model.json that may be loaded. */
  modelSha256?: string;
  modelCacheDir?: string;
  /** INFERENCE_ENGINE; default: the INFERENCE_ENGINE variable, else auto (ONNX when the model has a model.onnx). */
  engine?: EnginePreference;
  /** TF.js backend (the tfjs engine). */
  backend?: BackendPreference;
  /** ONNX Runtime threads per model run; default: the host's cores shared out among `modelRunsPerHost`. */
  inferenceThreads?: number;
  /** Model runs that go on at once on this host (e.g. worker processes sharing its cores); default 1. */
  modelRunsPerHost?: number;
  /** Override the model's metadata (and the defaults, which fit mobilenet_v1_025_224). */
  inputSize?: number;
  inputRange?: [number, number];
  labelOffset?: number;
  labelsFile?: string;
  maxImageBytes?: number;
  maxImagePixels?: number;
  /** Run the model in a worker thread (default true). */
  thread?: boolean;
  /**
   * How much lower (nice, 1-19) this process's threads other than the model thread run than it,
   * so that the model gets a core first (thread-priority.ts); 'auto': by whether the model leaves
   * a core free (feedingThreadsNice); 0 or absent: all threads alike (a process that only loads a
   * model, a test or a benchmark, keeps its priorities).
   */
  otherThreadsNice?: number | 'auto';
  /** Most images per model call (default: DEFAULT_BATCH_SIZE of the engine); a batch never waits to fill. */
  maxBatch?: number;
  /** Most images decoded at once (default: one per core, at least 2; more than one only while the model is idle); bounds decoder memory. */
  decodeConcurrency?: number;
}

/** The worker's configuration section as classifier options. */
export function classifierOptions(w: WorkerSettings): ClassifierOptions {
  return {
    modelDir: w.modelDir,
    modelUrl: w.modelUrl,
    modelSha256: w.modelSha256,
    modelCacheDir: w.modelCacheDir,
    engine: w.inferenceEngine,
    inferenceThreads: w.inferenceThreads,
    // Local workers share this machine, up to one per core (npm start's fleet); on EC2 a worker has its instance.
    modelRunsPerHost: w.platform === 'local' ? availableParallelism() : 1,
    backend: w.tfBackend,
    inputSize: w.modelInputSize,
    inputRange: w.modelInputRange,
    labelOffset: w.modelLabelOffset,
    labelsFile: w.modelLabelsFile,
    maxImageBytes: w.maxImageBytes,
    maxImagePixels: w.maxImagePixels,
    thread: w.inferenceThread,
    otherThreadsNice: w.otherThreadsNice ?? 'auto',
    maxBatch: w.inferenceBatchSize,
  };
}

export interface Inference {
  /** Top-5, most likely first, with softmax confidences. */
  top5: Prediction[];
  /** This image's share of its batch's model time. */
  inferenceMs: number;
  /** This image's share of the model's CPU time, where the engine can tell (EngineResult.cpuMs). */
  modelCpuMs?: number;
  batchSize: number;
}

export interface Classification extends Inference {
  label: string;
  classIndex: number;
  confidence: number;
  decodeMs: number;
}

interface Waiting {
  /** Values in the model's range, or a decoded image (its 8-bit pixels). */
  input: Float32Array | DecodedImage;
  resolve: (r: Inference) => void;
  reject: (e: Error) => void;
}

/** Batches sent to the engine before the first one answers: keeps a model thread busy. */
const MAX_BATCHES_IN_FLIGHT = 2;

/**
 * An image classifier: one model, loaded once, on the best backend available.
 * `classify(bytes)` = `decode(bytes)` (sharp, off the event loop) + `infer()`
 * (the model, in its own thread by default). Concurrent calls are batched up
 * to `maxBatch` images per model call.
 */
export class Classifier {
  readonly backend: string;
  /** The model's name, as results report it. */
  readonly model: string;
  readonly inputSize: number;
  readonly inputRange: readonly [number, number];
  /** Preprocessing from the model's metadata: centre crop fraction and resize kernel. */
  readonly cropFraction: number;
  readonly resizeKernel: ResizeKernel;
  readonly labels: LabelMapping;
  readonly maxBatch: number;
  /** How each image becomes the model's input (size, range, crop, kernel, limits): what `decode` applies. */
  readonly preprocess: PreprocessOptions;
  private readonly waiting: Waiting[] = [];
  private inFlight = 0;
  private readonly pixelBatches = new PixelBatches(MAX_BATCHES_IN_FLIGHT + 1);
  private readonly decodeLanes: DecodeLanes;

  private constructor(
    private readonly engine: InferenceEngine,
    readonly source: ModelSource,
    /** How the model was loaded: a benchmark loads the same model the same way. */
    readonly runnerOptions: RunnerOptions,
    mapping: LabelMapping,
    options: ClassifierOptions,
    meta: ModelMetadata,
  ) {
    this.backend = engine.info.backend;
    this.model = source.name;
    this.inputSize = engine.info.inputSize;
    this.inputRange = options.inputRange ?? [0, 1];
    this.cropFraction = meta.cropFraction ?? 1;
    this.resizeKernel = meta.resizeKernel ?? 'lanczos3';
    this.labels = mapping;
    this.maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_BATCH_SIZE[engine.info.engine]);
    this.decodeLanes = new DecodeLanes(
      options.decodeConcurrency ?? Math.max(2, cpus().length),
      () => this.inFlight === 0 && this.waiting.length === 0,
    );
    this.preprocess = {
      size: this.inputSize,
      range: this.inputRange,
      cropFraction: this.cropFraction,
      kernel: this.resizeKernel,
      maxBytes: options.maxImageBytes ?? 32 * 1024 * 1024,
      maxPixels: options.maxImagePixels ?? 50_000_000,
    };
  }

  static async create(options: ClassifierOptions, log: ClassifierLogger = silentLogger): Promise<Classifier> {
    const source = await resolveModelSource(
      {
        modelDir: options.modelDir,
        modelUrl: options.modelUrl,
        modelSha256: options.modelSha256,
        engine: options.engine ?? enginePreferenceFromEnv(),
        cacheDir: options.modelCacheDir,
      },
      log,
    );
    const json = source.engine === 'tfjs' ? readModelJson(source.modelPath) : undefined;
    const meta = readModelMetadata(source.modelPath, json, source.metadataPath);
    const labels = options.labelsFile ? readLabelsFile(options.labelsFile) : (meta.labels ?? IMAGENET_LABELS);
    const runnerOptions: RunnerOptions = {
      engine: source.engine,
      modelPath: source.modelPath,
      backend: options.backend ?? 'auto',
      threads: source.engine === 'onnx' ? (options.inferenceThreads ?? intraOpThreads(availableParallelism(), options.modelRunsPerHost ?? 1)) : undefined,
      inputSize: options.inputSize ?? meta.inputSize,
      inputName: meta.inputName,
      outputName: meta.outputName,
      warmupBatch: Math.max(1, options.maxBatch ?? DEFAULT_BATCH_SIZE[source.engine]),
    };
    const engine =
      options.thread === false
        ? await LocalEngine.start(runnerOptions, log)
        : await ThreadEngine.start(runnerOptions, log);
    const info = engine.info;
    const otherThreadsNice = options.otherThreadsNice === 'auto' ? feedingThreadsNice(runnerOptions.threads, availableParallelism()) : options.otherThreadsNice;
    const niced = otherThreadsNice && info.threadId !== undefined ? lowerOtherThreads(info.threadId, otherThreadsNice) : 0;
    const labelOffset = options.labelOffset ?? meta.labelOffset ?? inferLabelOffset(info, labels.length, log);
    if (info.outputSize - labelOffset > labels.length) {
      log.warn(
        { outputs: info.outputSize, labelOffset, labels: labels.length },
        'the model has more classes than labels: the extra classes are reported as "class N"',
      );
    }
    const classifier = new Classifier(
      engine,
      { ...source, name: meta.name ?? source.name },
      runnerOptions,
      { labels, labelOffset, activation: meta.outputActivation },
      { ...options, inputRange: options.inputRange ?? meta.inputRange },
      meta,
    );
    log.info(
      {
        engine: info.engine,
        backend: info.backend,
        ...(info.threads !== undefined && { threads: info.threads }),
        model: classifier.model,
        format: info.format,
        inputSize: info.inputSize,
        inputRange: classifier.inputRange,
        cropFraction: classifier.cropFraction,
        resizeKernel: classifier.resizeKernel,
        modelSha256: source.modelSha256,
        outputs: info.outputSize,
        labelOffset,
        thread: info.thread,
        ...(niced > 0 && { otherThreadsNice }),
        maxBatch: classifier.maxBatch,
        loadMs: Math.round(info.loadMs),
        warmupMs: Math.round(info.warmupMs),
      },
      `model loaded on the ${info.backend} backend`,
    );
    return classifier;
  }

  get engineInfo(): EngineInfo {
    return this.engine.info;
  }

  /** Decodes and preprocesses one image; ImageDecodeError when it cannot. One at a time, up to decodeConcurrency while the model is idle. */
  decode(bytes: Uint8Array): Promise<DecodedImage> {
    return this.decodeLanes.run(() => decodeImage(bytes, this.preprocess));
  }

  /** Runs the model on one decoded image (its pixels), or on values already in the model's range (copied: the caller keeps them). */
  infer(image: DecodedImage | Float32Array): Promise<Inference> {
    const expected = this.inputSize * this.inputSize * 3;
    if (image.length !== expected) {
      return Promise.reject(new RangeError(`input has ${image.length} values, the model takes ${expected}`));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ input: image, resolve, reject });
      this.pump();
    });
  }

  async classify(bytes: Uint8Array): Promise<Classification> {
    const decoded = await this.decode(bytes);
    const inference = await this.infer(decoded);
    const [best] = inference.top5;
    return { ...inference, label: best.label, classIndex: best.classIndex, confidence: best.confidence, decodeMs: decoded.decodeMs };
  }

  /** Live tensors where the model runs: constant from one image to the next when nothing leaks. */
  numTensors(): Promise<number> {
    return this.engine.numTensors();
  }

  async close(): Promise<void> {
    await this.engine.close();
  }

  private pump(): void {
    while (this.inFlight < MAX_BATCHES_IN_FLIGHT && this.waiting.length > 0) {
      // A batch is all pixels or all values (never both), as the model thread takes it.
      const pixels = !(this.waiting[0].input instanceof Float32Array);
      const alike = this.waiting.findIndex((w) => !(w.input instanceof Float32Array) !== pixels);
      const batch = this.waiting.splice(0, Math.min(this.maxBatch, alike === -1 ? Infinity : alike));
      const n = batch.length;
      const per = this.inputSize * this.inputSize * 3;
      // Pixels into an array the model thread hands back (transferred both ways); values into a fresh one.
      let input: ModelInput;
      try {
        if (pixels) {
          const values = this.pixelBatches.take(per * n);
          batch.forEach((w, i) => (w.input as DecodedImage).writePixels(values, i * per));
          input = { pixels: values, range: this.inputRange };
        } else {
          input = new Float32Array(per * n);
          batch.forEach((w, i) => (input as Float32Array).set(w.input as Float32Array, i * per));
        }
      } catch (err) {
        batch.forEach((w) => w.reject(err as Error));
        continue;
      }
      this.inFlight++;
      this.engine
        .run(input, n)
        .then(
          ({ output, ms, cpuMs, spent }) => {
            if (spent) this.pixelBatches.give(spent);
            const size = output.length / n;
            batch.forEach((w, i) =>
              w.resolve({
                top5: topPredictions(output.subarray(i * size, (i + 1) * size), this.labels, 5),
                inferenceMs: ms / n,
                ...(cpuMs === undefined ? {} : { modelCpuMs: cpuMs / n }),
                batchSize: n,
              }),
            );
          },
          (err: Error) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
          // An idle model opens more decode lanes.
          this.decodeLanes.wake();
        });
    }
  }
}

/** 1001 outputs for 1000 labels: output 0 is "background". */
function inferLabelOffset(info: EngineInfo, labelCount: number, log: ClassifierLogger): number {
  const offset = info.outputSize - labelCount;
  if (offset === 0 || offset === 1) return offset;
  if (offset < 0) {
    throw new ModelLoadError(
      `the model has ${info.outputSize} outputs but there are ${labelCount} labels: set MODEL_LABELS_FILE (or labels in metadata.json)`,
    );
  }
  log.warn({ outputs: info.outputSize, labels: labelCount, labelOffset: offset }, 'label offset guessed from the output count: set MODEL_LABEL_OFFSET to be sure');
  return offset;
}
