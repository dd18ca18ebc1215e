/**
 * The inference thread's entry point (see ThreadEngine): loads the backend and
 * the model (either engine), then answers run and memory requests in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FromThread, ToThread } from './engine';
import { ModelInputBuffer } from './model-input';
import type { ClassifierLogger } from './logger';
import type { RunnerOptions } from './model-runner';
import { loadRunner } from './runner';
import { kernelThreadId } from './thread-priority';

/** Only an array that owns its whole buffer is transferred (never a view of the wasm heap). */
const ownsBuffer = (a: ArrayBufferView) => a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;

const port = parentPort;
if (!port) throw new Error('inference-thread must run in a worker thread');
const send = (m: FromThread, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const log: ClassifierLogger = {
  info: (fields, msg) => send({ type: 'log', level: 'info', fields, msg }),
  warn: (fields, msg) => send({ type: 'log', level: 'warn', fields, msg }),
};

loadRunner(workerData as RunnerOptions, log).then(
  (runner) => {
    const input = new ModelInputBuffer();
    // One request at a time, in order: the input buffer is re-used, so a batch
    // is filled only once the run before it has ended.
    let previous: Promise<void> = Promise.resolve();
    port.on('message', (m: ToThread) => {
      // A request that fails to answer (its reply cannot be sent) must not stop those after it.
      previous = previous.then(() => handle(m)).catch(() => undefined);
    });
    const handle = async (m: ToThread): Promise<void> => {
      if (m.type === 'memory') {
        send({ type: 'memory', id: m.id, numTensors: runner.numTensors() });
        return;
      }
      const started = performance.now();
      try {
        const values = input.fill(m.batch);
        // Scaled into `values`: the pixels go back with the result, for the next batch to re-use.
        const spent = m.batch instanceof Float32Array ? undefined : m.batch.pixels;
        const cpu = process.threadCpuUsage?.();
        const output = await runner.run(values, m.n);
        const used = cpu && process.threadCpuUsage(cpu);
        const cpuMs = used && (used.user + used.system) / 1000;
        const transfer = [output, spent].filter((a) => a && ownsBuffer(a)).map((a) => (a as Float32Array | Uint8Array).buffer as ArrayBuffer);
        send({ type: 'result', id: m.id, output, ms: performance.now() - started, cpuMs, spent }, transfer);
      } catch (err) {
        send({ type: 'error', id: m.id, message: (err as Error).message ?? String(err) });
      }
    };
    send({ type: 'ready', info: runner.info, threadId: kernelThreadId() });
  },
  (err: unknown) => send({ type: 'failed', message: (err as Error).message ?? String(err) }),
);
