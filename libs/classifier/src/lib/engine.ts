import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { InferenceError, ModelLoadError } from './errors';
import type { ClassifierLogger } from './logger';
import type { ModelRunnerLike, RunnerInfo, RunnerOptions } from './model-runner';
import { ModelInputBuffer, type ModelInput } from './model-input';
import { loadRunner } from './runner';

export interface EngineInfo extends RunnerInfo {
  /** True when the model runs in a worker thread. */
  thread: boolean;
  /** That thread's kernel id (Linux), to give it the CPU first (thread-priority.ts). */
  threadId?: number;
}

export interface EngineResult {
  /** n x outputSize values. */
  output: Float32Array;
  /** Time the model took for the whole batch (excluding any wait for an earlier batch). */
  ms: number;
  /**
   * CPU time of the thread the model ran on, over the run (the model's own work, where a
   * thread's CPU can be read: Node 22.13+/23.9+ in a worker thread), ms.
   */
  cpuMs?: number;
  /** The batch's pixels, handed back once the model has taken them, for a later batch to re-use. */
  spent?: Uint8Array;
}

/** Runs the model: in this thread, or in a worker thread of its own. */
export interface InferenceEngine {
  readonly info: EngineInfo;
  /** `batch` holds n images; its buffer may be transferred (do not re-use it: a pixel batch comes back as `spent`). */
  run(batch: ModelInput, n: number): Promise<EngineResult>;
  /** Live tensors where the model runs (for leak checks). */
  numTensors(): Promise<number>;
  close(): Promise<void>;
}

/** Messages between ThreadEngine and inference-thread.ts. */
export type ToThread = { type: 'run'; id: number; batch: ModelInput; n: number } | { type: 'memory'; id: number };
export type FromThread =
  | { type: 'ready'; info: RunnerInfo; threadId?: number }
  | { type: 'failed'; message: string }
  | { type: 'log'; level: 'info' | 'warn'; fields: object; msg: string }
  | { type: 'result'; id: number; output: Float32Array; ms: number; cpuMs?: number; spent?: Uint8Array }
  | { type: 'memory'; id: number; numTensors: number }
  | { type: 'error'; id: number; message: string };

/** The model in the calling thread (either engine): used by benchmarks, tests, and INFERENCE_THREAD=false. */
export class LocalEngine implements InferenceEngine {
  private constructor(
    private readonly runner: ModelRunnerLike,
    readonly info: EngineInfo,
  ) {}

  static async start(options: RunnerOptions, log: ClassifierLogger): Promise<LocalEngine> {
    const runner = await loadRunner(options, log);
    return new LocalEngine(runner, { ...runner.info, thread: false });
  }

  async run(batch: ModelInput, n: number): Promise<EngineResult> {
    const started = performance.now();
    // Benchmarks and tests: a fresh array per batch, as runs here may overlap.
    const output = await this.runner.run(new ModelInputBuffer().fill(batch), n);
    return { output, ms: performance.now() - started, ...(batch instanceof Float32Array ? {} : { spent: batch.pixels }) };
  }

  async numTensors(): Promise<number> {
    return this.runner.numTensors();
  }

  async close(): Promise<void> {
    this.runner.dispose();
  }
}

/**
 * Where the thread's code is: `inference-thread.js` beside this file in a
 * build (the worker app emits it as a second webpack entry), or the
 * TypeScript source run through tsx in tests and scripts.
 */
function threadEntry(): { filename: string; eval: boolean } {
  const js = join(__dirname, 'inference-thread.js');
  if (existsSync(js)) return { filename: js, eval: false };
  const ts = join(__dirname, 'inference-thread.ts');
  if (existsSync(ts)) {
    const tsx = require.resolve('tsx/cjs/api');
    return { filename: `require(${JSON.stringify(tsx)}).register();\nrequire(${JSON.stringify(ts)});`, eval: true };
  }
  throw new ModelLoadError(`inference thread code not found beside ${__filename} (inference-thread.js)`);
}

/**
 * The model in a worker thread: inference (synchronous WebAssembly) never
 * blocks the event loop, so queue and storage I/O and image decoding go on
 * while the model runs.
 */
export class ThreadEngine implements InferenceEngine {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>();
  private failure?: Error;
  private closing = false;

  private constructor(
    private readonly worker: Worker,
    readonly info: EngineInfo,
    private readonly log: ClassifierLogger,
  ) {
    worker.on('message', (m: FromThread) => this.onMessage(m));
    worker.on('error', (err) => this.fail(new InferenceError(`inference thread failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(new InferenceError(`inference thread exited with code ${code}`));
    });
  }

  static start(options: RunnerOptions, log: ClassifierLogger): Promise<ThreadEngine> {
    const entry = threadEntry();
    const worker = new Worker(entry.filename, { eval: entry.eval, workerData: options });
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromThread) => {
        if (m.type === 'log') log[m.level](m.fields, m.msg);
        else if (m.type === 'ready') {
          worker.off('message', onMessage).off('error', onError).off('exit', onExit);
          resolve(new ThreadEngine(worker, { ...m.info, thread: true, threadId: m.threadId }, log));
        } else if (m.type === 'failed') {
          void worker.terminate();
          reject(new ModelLoadError(m.message));
        }
      };
      const onError = (err: Error) => reject(new ModelLoadError(`inference thread failed to start: ${err.message}`, { cause: err }));
      const onExit = (code: number) => reject(new ModelLoadError(`inference thread exited with code ${code} while loading`));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
  }

  private onMessage(m: FromThread): void {
    if (m.type === 'log') this.log[m.level](m.fields, m.msg);
    if (m.type !== 'result' && m.type !== 'memory' && m.type !== 'error') return;
    const waiter = this.pending.get(m.id);
    if (!waiter) return;
    this.pending.delete(m.id);
    if (m.type === 'error') waiter.reject(new InferenceError(m.message));
    else if (m.type === 'result') waiter.resolve({ output: m.output, ms: m.ms, cpuMs: m.cpuMs, spent: m.spent } as never);
    else waiter.resolve(m.numTensors as never);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.pending.values()) w.reject(err);
    this.pending.clear();
  }

  private request<T>(msg: ToThread, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new InferenceError('the classifier is closed'));
    return new Promise<T>((resolve, reject) => {
      this.pending.set(msg.id, { resolve: resolve as (v: never) => void, reject });
      this.worker.postMessage(msg, transfer);
    });
  }

  run(batch: ModelInput, n: number): Promise<EngineResult> {
    // Transfer rather than copy when the array owns its whole buffer.
    const array = batch instanceof Float32Array ? batch : batch.pixels;
    const transfer = array.byteOffset === 0 && array.byteLength === array.buffer.byteLength ? [array.buffer as ArrayBuffer] : [];
    return this.request({ type: 'run', id: this.nextId++, batch, n }, transfer);
  }

  numTensors(): Promise<number> {
    return this.request({ type: 'memory', id: this.nextId++ });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.fail(new InferenceError('the classifier is closed'));
    await this.worker.terminate();
  }
}
