/**
 * `npm run bench:classifier -- --images DIR [--engine auto|onnx|tfjs[,...]] [--json OUT] [--rounds 3] [--warm-up 5] [--batch N[,N...]] [--no-build] [--raw-only]`
 *
 * Throughput of the classifier worker against the model alone, measured in one run:
 * - raw: the images decoded beforehand, their tensors straight through the model
 *   (this process, same backend and batch size as the worker);
 * - pipeline: the same images through one built worker process
 *   (dist/apps/classifier-worker/main.js) against the embedded S3/SQS, from the
 *   first launch message sent to the last output message sent.
 * Prints and writes { backend, model, images, rawImagesPerSecond,
 * pipelineImagesPerSecond, ratio, p50Ms, p95Ms, breakdownMs, coldStartMs, rssMb, ... }.
 * The first pipeline round (cold) is reported apart; then --warm-up rounds run untimed
 * (the worker and the emulator JIT-compile their per-image paths over the first few
 * hundred images: the worker's main thread spent 8.1, 7.0, 6.0, 5.2 ms per image in the
 * rounds after the cold one, and 3.8-4.9 from the sixth on); the figures are medians of
 * the --rounds after those. The raw rate is measured before and after the pipeline
 * (median of both), so a change of load on the machine shows in neither alone.
 * The model is the worker's: MODEL_DIR, else MODEL_URL, else the default model.
 * `--batch 1,4,8` measures each INFERENCE_BATCH_SIZE in turn, in the same run: the
 * JSON's top level is the first, `batchSizes` lists them all side by side.
 * `--engine tfjs,onnx` runs the whole measurement once per engine (INFERENCE_ENGINE
 * for the worker and the raw loop alike): `engines` holds each engine's report, or
 * `{ error }` for an engine that could not run; the top level repeats the first.
 * `cpuMsPerImage.workerOutsideModel` is the worker's CPU per image (all its threads)
 * less the model's own: its runs' CPU on the worker's model thread, as each image's log
 * line tells it (`modelCpuMsPerImageInWorker`; the raw loop's where Node cannot read a
 * thread's CPU). `workerLessRawModel` subtracts the raw loop's instead: the difference is
 * what sharing two cores with the rest costs the model itself.
 * `workerRunQueueWaitMsPerImageByThread` is, per image and by thread, the time each of the
 * worker's threads was ready to run but waited for a core (Linux schedstat): whether the
 * pipeline waits on the cores it shares with the emulator, or on its requests.
 */
import { execFileSync } from 'node:child_process';
import { Server, type IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { availableParallelism, getPriority } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { EXIT, parseCommandLine, runMain } from '@app/command-line';
import { Classifier, LocalEngine, consoleLogger, lowerAllThreads } from '@app/classifier';
import { inputKey, launchMessage, parseOutputMessage, resultKey, serialize, type ImageExtension } from '@app/contracts';
import { median } from '@tools/loadgen';
import { DATASET_DIR, WORKSPACE_ROOT, residentMemory, spawnApp, startTestStack, type TestStack } from '@tools/testing';
import { modelBatches } from './lib/model-batches';
import { classifierReport, type ImageLog, type PipelineRound } from './lib/classifier-report';
import { cpuPerImage, cpuSample } from './lib/thread-times';

/** INFERENCE_ENGINE's values. */
type EnginePreference = 'auto' | 'onnx' | 'tfjs';

const EXT: Record<string, ImageExtension> = { '.jpg': 'jpg', '.jpeg': 'jpg', '.png': 'png', '.webp': 'webp', '.gif': 'gif' };

const r1 = (x: number) => Math.round(x * 10) / 10;

interface ImageFile {
  name: string;
  ext: ImageExtension;
  bytes: Buffer;
}

/**
 * Decoded tensors straight through the model, in batches of `batch`: images per second, and the
 * CPU milliseconds per image this (single-threaded) loop used, which a busy machine distorts far
 * less than wall time.
 */
async function rawRate(engine: LocalEngine, inputs: Float32Array[], batch: number): Promise<{ rate: number; cpuMsPerImage: number; msPerImage: number[] }> {
  const batches = modelBatches(inputs, batch);
  const msPerImage: number[] = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const b of batches) {
    const t = performance.now();
    await engine.run(b.data, b.n);
    msPerImage.push((performance.now() - t) / b.n);
  }
  const used = process.cpuUsage(cpu);
  return { rate: inputs.length / ((performance.now() - started) / 1000), cpuMsPerImage: (used.user + used.system) / 1000 / inputs.length, msPerImage };
}

/** The model the worker will use: the same variables, the same resolution (MODEL_DIR, MODEL_URL, default). */
const MODEL_ENV = ['MODEL_DIR', 'MODEL_URL', 'MODEL_SHA256', 'MODEL_CACHE_DIR'] as const;
const modelEnv = () => Object.fromEntries(MODEL_ENV.flatMap((k) => (process.env[k] ? [[k, process.env[k] as string]] : [])));

/**
 * The model alone, loaded as a local worker loads it: the same engine, batch size and ONNX
 * Runtime thread count (a local worker shares the machine's cores with up to one worker per
 * core, classifierOptions). A raw loop on more threads than the worker's would count the
 * extra threads' CPU (ONNX Runtime's pool spins while it waits) as the model's.
 * `batch` undefined: the engine's default, as the worker takes it.
 */
async function measureRaw(files: ImageFile[], batch: number | undefined, backend: string, rounds: number, engine: EnginePreference) {
  const threads = process.env['INFERENCE_THREADS'];
  const classifier = await Classifier.create(
    {
      inferenceThreads: threads ? Number(threads) : undefined,
      modelRunsPerHost: availableParallelism(),
      engine,
      modelDir: process.env['MODEL_DIR'],
      modelUrl: process.env['MODEL_URL'],
      modelSha256: process.env['MODEL_SHA256'],
      modelCacheDir: process.env['MODEL_CACHE_DIR'],
      backend: backend as 'auto',
      thread: false,
      maxBatch: batch,
    },
    consoleLogger,
  );
  try {
    const inputs = await Promise.all(files.map(async (f) => (await classifier.decode(f.bytes)).data));
    const engine = await LocalEngine.start(classifier.runnerOptions, { info: () => undefined, warn: () => undefined });
    try {
      const size = classifier.maxBatch;
      await rawRate(engine, inputs.slice(0, 20), size); // warm-up
      const results = [];
      for (let r = 0; r < rounds; r++) results.push(await rawRate(engine, inputs, size));
      return { backend: classifier.backend, model: classifier.model, batch: size, threads: engine.info.threads, results };
    } finally {
      await engine.close();
    }
  } finally {
    await classifier.close();
  }
}

/** A process's resident memory now, MB. */
function rssMb(pid: number): number | undefined {
  const memory = residentMemory(pid);
  return memory && Math.round(memory.rssBytes / 2 ** 20);
}

/**
 * Requests the embedded S3/SQS served (they run in this process), by service: SQS by its
 * X-Amz-Target header, everything else S3. Unlike CPU time, a count does not move with the
 * machine's load: it shows what the worker asks of storage and queues per image.
 */
const served = { s3: 0, sqs: 0 };
/** The same requests by operation: the SQS action, or the S3 method. */
const servedBy: Record<string, number> = {};
const emit = Server.prototype.emit;
Server.prototype.emit = function (this: Server, event: string, ...args: unknown[]) {
  if (event === 'request') {
    const req = args[0] as IncomingMessage;
    const target = req.headers['x-amz-target'];
    const sqs = typeof target === 'string' && target.startsWith('AmazonSQS');
    if (sqs) served.sqs++;
    else served.s3++;
    const op = sqs ? `sqs ${target.slice('AmazonSQS.'.length)}` : `s3 ${req.method}`;
    servedBy[op] = (servedBy[op] ?? 0) + 1;
  }
  return Reflect.apply(emit, this, [event, ...args]) as boolean;
} as typeof Server.prototype.emit;

const values = parseCommandLine({
  name: 'npm run bench:classifier --',
  summary:
    'Throughput of the classifier worker against the model alone: raw (tensors straight through the model) beside the pipeline (one built worker process against the embedded S3/SQS), with a per-stage breakdown.',
  flags: {
    images: { type: 'string', value: 'DIR', description: 'benchmark images', default: join(DATASET_DIR, 'imagenet-100/images') },
    json: { type: 'string', value: 'OUT', description: 'write the report as JSON' },
    rounds: { type: 'string', description: 'timed rounds, after the cold one and the warm-up (medians are reported)', default: '3', number: { integer: true, min: 1 } },
    'warm-up': { type: 'string', value: 'ROUNDS', description: 'untimed rounds after the cold one, while the worker and the emulator warm up', default: '5', number: { integer: true, min: 0 } },
    batch: { type: 'string', value: 'N[,N...]', description: "INFERENCE_BATCH_SIZE values, each measured in turn (default: the engine's own, as the worker takes it)" },
    prefetch: { type: 'string', description: "the worker's WORKER_PREFETCH", default: process.env['WORKER_PREFETCH'] ?? '20', number: { integer: true, min: 1 } },
    backend: { type: 'string', description: 'TF_BACKEND: auto, tensorflow, wasm or cpu', default: process.env['TF_BACKEND'] ?? 'auto' },
    engine: { type: 'string', value: 'E[,E...]', description: 'INFERENCE_ENGINE values (auto, onnx, tfjs), each measured in turn', default: process.env['INFERENCE_ENGINE'] ?? 'auto' },
    'no-build': { type: 'boolean', description: 'use the worker already built in dist/' },
    'cpu-prof': { type: 'string', value: 'DIR', description: "write the worker's V8 CPU profiles (one per thread, .cpuprofile) into DIR" },
    'node-options': { type: 'string', value: 'FLAGS', description: "Node/V8 flags for the worker process, space-separated (e.g. '--max-semi-space-size=8 --trace-gc'): to try a runtime setting" },
    // Only the model alone at each --batch size (no worker, no emulator): a quick comparison.
    'raw-only': { type: 'boolean', description: 'only the model alone at each --batch size (no worker, no emulator)' },
  },
  epilog: 'Model: MODEL_DIR, else MODEL_URL, else the default model (as the worker).',
});

async function main(): Promise<void> {
  const rounds = Math.max(1, Number(values.rounds));
  const batchList = values.batch ?? process.env['INFERENCE_BATCH_SIZE'];
  // undefined: each engine's default batch size (DEFAULT_BATCH_SIZE), which the worker uses when INFERENCE_BATCH_SIZE is unset.
  const batches: (number | undefined)[] = batchList ? batchList.split(',').map((b) => Math.max(1, Number(b))) : [undefined];
  if (batches.some((b) => b !== undefined && !Number.isInteger(b))) usage(`--batch takes sizes like 1 or 1,4,8 (got ${batchList})`);
  const engines = values.engine.split(',').map((e) => e.trim()) as EnginePreference[];
  const unknown = engines.filter((e) => !['auto', 'onnx', 'tfjs'].includes(e));
  if (unknown.length > 0) usage(`--engine takes auto, onnx or tfjs, comma-separated (got ${unknown.join(', ')})`);
  const dir = resolve(values.images);
  if (!existsSync(dir)) usage(`the benchmark images are missing: ${dir} does not exist (they come with ../shared; pass --images DIR)`);
  const modelDir = process.env['MODEL_DIR'];
  if (modelDir && !existsSync(resolve(modelDir))) usage(`the model is missing: MODEL_DIR=${modelDir} does not exist`);
  const files: ImageFile[] = readdirSync(dir)
    .filter((f) => EXT[extname(f).toLowerCase()])
    .sort()
    .map((name) => ({ name, ext: EXT[extname(name).toLowerCase()], bytes: readFileSync(join(dir, name)) }));
  if (files.length === 0) throw new Error(`no JPEG, PNG, WebP or GIF images in ${dir}`);

  if (!values['no-build']) {
    console.error('building the worker (nx build classifier-worker) ...');
    execFileSync('npx', ['nx', 'build', 'classifier-worker', '--outputStyle=static'], {
      cwd: WORKSPACE_ROOT,
      stdio: ['ignore', 2, 2],
      env: { ...process.env, NX_DAEMON: 'false' },
    });
  }

  if (values['raw-only']) {
    const rows = [];
    for (const batch of batches) {
      const { backend, model, results, batch: batchSize, threads } = await measureRaw(files, batch, values.backend, rounds, engines[0]);
      rows.push({
        backend,
        model,
        batchSize,
        threads,
        rawImagesPerSecond: r1(median(results.map((x) => x.rate))),
        rawCpuMsPerImage: r1(median(results.map((x) => x.cpuMsPerImage))),
        rawRoundsImagesPerSecond: results.map((x) => r1(x.rate)),
      });
      console.log(JSON.stringify(rows.at(-1)));
    }
    if (values.json) writeFileSync(values.json, JSON.stringify({ images: files.length, rounds, batchSizes: rows }, null, 2) + '\n');
    return;
  }
  const byEngine: Record<string, object> = {};
  for (const engine of engines) {
    try {
      byEngine[engine] = await measureEngine(files, batches, rounds, { ...values, engine });
    } catch (err) {
      // An engine that cannot run here (no model for it, no runtime) is reported, and the others still run.
      const message = (err as Error).message ?? String(err);
      console.error(`engine ${engine} failed: ${message}`);
      byEngine[engine] = { error: message.slice(0, 2000) };
    }
  }
  const report = { ...byEngine[engines[0]], engines: byEngine };
  console.log(JSON.stringify(report));
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
}

/** Every --batch size on one engine; the first size's report, with the others side by side. */
async function measureEngine(files: ImageFile[], batches: (number | undefined)[], rounds: number, options: BatchOptions) {
  const reports = [];
  for (const batch of batches) reports.push(await measureBatch(files, batch, rounds, options));
  if (reports.length === 1) return reports[0];
  return {
    ...reports[0],
    batchSizes: reports.map((r) => ({
      batchSize: r.batchSize,
      rawImagesPerSecond: r.rawImagesPerSecond,
      pipelineImagesPerSecond: r.pipelineImagesPerSecond,
      ratio: r.ratio,
      rawCpuMsPerImage: r.rawCpuMsPerImage,
      modelCpuMsPerImageInWorker: r.modelCpuMsPerImageInWorker,
      cpuMsPerImage: r.cpuMsPerImage,
      p50Ms: r.p50Ms,
      p95Ms: r.p95Ms,
    })),
  };
}

/** What is missing or wrong on the command line: one line, exit 2. */
function usage(message: string): never {
  console.error(`bench:classifier: ${message}`);
  process.exit(2);
}

interface BatchOptions {
  backend: string;
  prefetch: string;
  engine: EnginePreference;
  'warm-up': string;
  'cpu-prof'?: string;
  'node-options'?: string;
}

/**
 * Where the emulator keeps its objects: in memory (/dev/shm) where there is one. The
 * emulator stands in for S3 and SQS, whose CPU is not the worker's instance's; on this
 * machine's disk its file calls alone (open, stat, read, write, rename per object) cost
 * 1-2 ms of CPU per image, taken from the cores the worker and its model share
 * (`cpuMsPerImage.emulator`: 4.3-5.2 ms on disk, 3.1-3.3 in memory, same code).
 */
function edgeStorage(): { dir: string | undefined; kind: 'memory' | 'disk' } {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return statfsSync('/dev/shm').type === TMPFS_MAGIC ? { dir: '/dev/shm', kind: 'memory' } : { dir: undefined, kind: 'disk' };
  } catch {
    return { dir: undefined, kind: 'disk' };
  }
}
const TMPFS_MAGIC = 0x01021994;

/**
 * The edge (this process: the emulated S3 and SQS, and the rounds' driver) put at the priority of
 * the worker's own feeding threads, once the worker has lowered them (WORKER_OTHER_THREADS_NICE:
 * the model thread first, the work that feeds it after). The edge stands in for services on other
 * machines; left at the model thread's priority, it took the model's core half the time whenever it
 * woke while the worker's feeding threads held the other one, where ranked with them it waits for
 * those instead. Interleaved runs (2026-12-04, the feeding threads at 5): ratio 0.69-0.85 (median 0.82
 * of 13) with the edge at the feeding threads' nice, 0.66-0.82 (median 0.78 of 8) at the model's. Its
 * CPU is counted as before.
 * Lowering cannot be undone without privileges: the next worker this process starts inherits the
 * lower priority and keeps the same order (its model thread at the edge's nice, the rest below).
 * Returns the edge's nice.
 */
function edgeGivesWayToModel(workerOtherThreadsNice: number | undefined): number {
  const nice = getPriority(0); // the thread the worker was started from: its model thread's nice
  if (!workerOtherThreadsNice) return nice;
  lowerAllThreads(Math.min(19, nice + workerOtherThreadsNice));
  return getPriority(0);
}

/** Raw model rate, then one worker process on the embedded S3/SQS, then the raw rate again, at one batch size. */
async function measureBatch(files: ImageFile[], requested: number | undefined, rounds: number, options: BatchOptions) {
  const before = await measureRaw(files, requested, options.backend, rounds, options.engine);
  const batch = before.batch;
  const profileDir = options['cpu-prof'] ? resolve(options['cpu-prof']) : undefined;
  const warmUp = Number(options['warm-up']);

  const edge = edgeStorage();
  const stack: TestStack = await startTestStack({ tempDir: edge.dir });
  const spawnedAt = performance.now();
  const worker = spawnApp('classifier-worker', {
    ...stack.env,
    LOG_LEVEL: 'info',
    ...modelEnv(),
    WORKER_ID: 'bench-1',
    TF_BACKEND: options.backend,
    INFERENCE_ENGINE: options.engine,
    INFERENCE_BATCH_SIZE: String(batch),
    WORKER_PREFETCH: options.prefetch,
    IDLE_SECONDS: '3600',
  }, [...(options['node-options']?.split(/\s+/).filter(Boolean) ?? []), ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])]);
  const perRound: PipelineRound[] = [];
  let coldStartMs = 0;
  let workerColdStartMs = 0;
  let rssAfterFirst: number | undefined;
  let rssAfterAll: number | undefined;
  let verified = 0;
  let edgeNice: number | undefined;
  try {
    const polling = await worker.waitForLine(/polling the launch queue/, 60_000);
    coldStartMs = performance.now() - spawnedAt;
    // The raw loop must run the model as the worker does, or its CPU is not the worker's model CPU.
    const loaded = worker.lines.find((l) => l.includes('"model loaded on the'));
    const model = loaded ? (JSON.parse(loaded) as { threads?: number; otherThreadsNice?: number }) : {};
    if (model.threads !== before.threads) {
      throw new Error(`the worker runs the model on ${model.threads ?? '?'} threads, the raw loop on ${before.threads ?? '?'}: set INFERENCE_THREADS for both`);
    }
    edgeNice = edgeGivesWayToModel(model.otherThreadsNice);
    workerColdStartMs = (JSON.parse(polling) as { coldStartMs: number }).coldStartMs;
    let done: ImageLog[] = [];
    let target = 0;
    let onTarget: (() => void) | undefined;
    let partial = '';
    worker.process.stdout?.on('data', (buf: Buffer) => {
      const text = partial + buf.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.includes('"image classified"') && !line.includes('"image refused')) continue;
        // From the first brace: a flag's trace (--node-options '--trace-gc') may share the line's start.
        done.push(JSON.parse(line.slice(line.indexOf('{'))) as ImageLog);
        if (done.length >= target) onTarget?.();
      }
    });
    const r = stack.resources;
    for (let round = 0; round <= warmUp + rounds; round++) {
      // Untimed: the images into the input bucket, the launch messages made.
      const batchId = randomUUID();
      const ids: string[] = [];
      const entries = [];
      for (const f of files) {
        const imageId = randomUUID();
        const key = inputKey(batchId, imageId, f.ext);
        await r.inputBucket.put(key, f.bytes);
        ids.push(imageId);
        entries.push({
          id: String(entries.length % 10),
          body: serialize(launchMessage({ batchId, imageId, fileName: f.name, attempt: 1, inputKey: key, enqueuedAt: new Date().toISOString() })),
        });
      }
      done = [];
      target = files.length;
      const finished = new Promise<void>((res) => (onTarget = res));
      // Timed: first launch message sent -> last output message sent.
      const pid = worker.process.pid ?? 0;
      const cpuBefore = cpuSample(pid);
      const servedBefore = { ...served };
      const servedByBefore = { ...servedBy };
      const started = performance.now();
      await r.launchQueue.sendBatch(entries);
      await Promise.race([
        finished,
        worker.exited.then((code) => {
          throw new Error(`worker exited (${code}) during the run:\n${worker.lines.slice(-20).join('\n')}`);
        }),
      ]);
      const seconds = (performance.now() - started) / 1000;
      const cpu = cpuPerImage(pid, cpuBefore, cpuSample(pid), files.length);
      const requests = { s3: (served.s3 - servedBefore.s3) / files.length, sqs: (served.sqs - servedBefore.sqs) / files.length };
      const byOperation = Object.fromEntries(Object.entries(servedBy).map(([op, n]) => [op, (n - (servedByBefore[op] ?? 0)) / files.length]));
      perRound.push({ rate: files.length / seconds, logs: done, cpu, requests, byOperation });
      if (round === 0) rssAfterFirst = rssMb(worker.process.pid ?? 0);
      // Untimed: every result is in the bucket and on the output queue.
      let outputs = 0;
      while (outputs < files.length) {
        const got = await r.outputQueue.receive({ maxMessages: 10, waitSeconds: 1 });
        if (got.length === 0) throw new Error(`only ${outputs} of ${files.length} output messages arrived`);
        for (const m of got) if (ids.includes(parseOutputMessage(m.body).imageId)) outputs++;
        await r.outputQueue.deleteBatch(got.map((m) => m.receiptHandle));
      }
      for (const id of ids) if (!(await r.outputBucket.exists(resultKey(id)))) throw new Error(`no result for ${id}`);
      verified += files.length;
    }
    rssAfterAll = rssMb(worker.process.pid ?? 0);
  } finally {
    const code = await worker.stop();
    if (code !== 0) console.error(`worker exited with ${code}`);
    await stack.stop();
  }

  const after = await measureRaw(files, batch, options.backend, rounds, options.engine);
  const report = classifierReport({
    engine: options.engine,
    backend: before.backend,
    model: before.model,
    images: files.length,
    batchSize: batch,
    prefetch: Number(options.prefetch),
    rounds,
    warmUpRounds: warmUp,
    raw: [...before.results, ...after.results],
    pipeline: perRound,
    coldStartMs,
    workerColdStartMs,
    rssMbAfterFirstRound: rssAfterFirst,
    rssMbAtEnd: rssAfterAll,
    imagesVerified: verified,
    cores: availableParallelism(),
    edgeStorage: edge.kind,
    edgeNice,
  });
  const workerOutsideModel = report.cpuMsPerImage.workerOutsideModel;
  console.log(
    `${options.engine}: ${report.backend}, ${report.model}, Node ${process.versions.node}: worker outside the model ${workerOutsideModel ?? '?'} ms CPU per image; raw ${report.rawImagesPerSecond} img/s, pipeline ${report.pipelineImagesPerSecond} img/s, ratio ${report.ratio}; ` +
      `p50 ${report.p50Ms} ms, p95 ${report.p95Ms} ms; cold start ${report.coldStartMs} ms; RSS ${report.rssMbAfterFirstRound} MB after ${files.length} images; ` +
      `timed: ${rounds} rounds of ${files.length} after ${report.warmUpRounds} warm-up rounds`,
  );
  return report;
}

runMain('bench:classifier', async () => {
  await main();
  return EXIT.done;
});
