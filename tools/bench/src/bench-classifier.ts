/**
 * `npm run bench:classifier -- --images DIR [--engine auto|onnx|tfjs[,...]] [--json OUT] [--rounds 3] [--batch N[,N...]] [--no-build] [--raw-only]`
 *
 * Throughput of the classifier worker against the model alone, measured in one run:
 * - raw: the images decoded beforehand, their tensors straight through the model
 *   (this process, same backend and batch size as the worker);
 * - pipeline: the same images through one built worker process
 *   (dist/apps/classifier-worker/main.js) against the embedded S3/SQS, from the
 *   first launch message sent to the last output message sent.
 * Prints and writes { backend, model, images, rawImagesPerSecond,
 * pipelineImagesPerSecond, ratio, p50Ms, p95Ms, breakdownMs, coldStartMs, rssMb, ... }.
 * The first pipeline round (cold) is reported apart; the figures are medians of
 * the rounds after it. The raw rate is measured before and after the pipeline
 * (median of both), so a change of load on the machine shows in neither alone.
 * The model is the worker's: MODEL_DIR, else MODEL_URL, else the default model.
 * `--batch 1,4,8` measures each INFERENCE_BATCH_SIZE in turn, in the same run: the
 * JSON's top level is the first, `batchSizes` lists them all side by side.
 * `--engine tfjs,onnx` runs the whole measurement once per engine (INFERENCE_ENGINE
 * for the worker and the raw loop alike): `engines` holds each engine's report, or
 * `{ error }` for an engine that could not run; the top level repeats the first.
 * `cpuMsPerImage.workerOutsideModel` is the worker's CPU per image (all its threads)
 * less the model's own (the raw loop's): what the worker spends around the model.
 */
import { execFileSync } from 'node:child_process';
import { Server, type IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { EXIT, parseCommandLine, runMain } from '@app/command-line';
import { Classifier, LocalEngine, consoleLogger } from '@app/classifier';
import { inputKey, launchMessage, parseOutputMessage, serialize, type ImageExtension } from '@app/contracts';
import { DATASET_DIR, WORKSPACE_ROOT, spawnApp, startTestStack, type TestStack } from '@tools/testing';

/** INFERENCE_ENGINE's values. */
type EnginePreference = 'auto' | 'onnx' | 'tfjs';

const EXT: Record<string, ImageExtension> = { '.jpg': 'jpg', '.jpeg': 'jpg', '.png': 'png', '.webp': 'webp', '.gif': 'gif' };
// The worker's stages, as its "image classified" log line times them.
const BREAKDOWN = ['claim', 'download', 'decode', 'infer', 'publish'] as const;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;

interface ImageFile {
  name: string;
  ext: ImageExtension;
  bytes: Buffer;
}

/** Decoded tensors straight through the model, in batches of `batch`: images per second. */
/**
 * Decoded tensors straight through the model, in batches of `batch`: images per second, and the
 * CPU milliseconds per image this (single-threaded) loop used, which a busy machine distorts far
 * less than wall time.
 */
async function rawRate(engine: LocalEngine, inputs: Float32Array[], batch: number): Promise<{ rate: number; cpuMsPerImage: number; msPerImage: number[] }> {
  const per = inputs[0].length;
  const batches: { data: Float32Array; n: number }[] = [];
  for (let i = 0; i < inputs.length; i += batch) {
    const group = inputs.slice(i, i + batch);
    const data = new Float32Array(per * group.length);
    group.forEach((x, j) => data.set(x, j * per));
    batches.push({ data, n: group.length });
  }
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

async function measureRaw(files: ImageFile[], batch: number, backend: string, rounds: number, engine: EnginePreference) {
  const classifier = await Classifier.create(
    {
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
      await rawRate(engine, inputs.slice(0, 20), batch); // warm-up
      const results = [];
      for (let r = 0; r < rounds; r++) results.push(await rawRate(engine, inputs, batch));
      return { backend: classifier.backend, model: classifier.model, results };
    } finally {
      await engine.close();
    }
  } finally {
    await classifier.close();
  }
}

function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) return Math.round(Number(m[1]) / 1024);
  } catch {
    // not Linux: ask ps
  }
  try {
    return Math.round(Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)]).toString().trim()) / 1024);
  } catch {
    return undefined;
  }
}

/** CPU milliseconds used so far by each thread of a process (Linux), keyed by thread id. */
function threadCpuMs(pid: number): Map<number, number> | undefined {
  try {
    const out = new Map<number, number>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), ((Number(f[11]) + Number(f[12])) * 1000) / 100); // utime + stime, at 100 ticks/s
    }
    return out;
  } catch {
    return undefined;
  }
}

interface CpuSample {
  worker?: Map<number, number>;
  bench: NodeJS.CpuUsage;
}

function cpuSample(pid: number): CpuSample {
  return { worker: threadCpuMs(pid), bench: process.cpuUsage() };
}

/** CPU per image between two samples: the worker's main thread, its other threads, and this process (the emulator). */
function cpuPerImage(pid: number, a: CpuSample, b: CpuSample, images: number) {
  const emulator = (b.bench.user - a.bench.user + b.bench.system - a.bench.system) / 1000 / images;
  if (!a.worker || !b.worker) return { emulator };
  let main = 0;
  let other = 0;
  for (const [tid, ms] of b.worker) {
    const used = ms - (a.worker.get(tid) ?? 0);
    if (tid === pid) main += used;
    else other += used;
  }
  return { workerMainThread: main / images, workerOtherThreads: other / images, emulator };
}

/**
 * Requests the embedded S3/SQS served (they run in this process), by service: SQS by its
 * X-Amz-Target header, everything else S3. Unlike CPU time, a count does not move with the
 * machine's load: it shows what the worker asks of storage and queues per image.
 */
const served = { s3: 0, sqs: 0 };
const emit = Server.prototype.emit;
Server.prototype.emit = function (this: Server, event: string, ...args: unknown[]) {
  if (event === 'request') {
    const target = (args[0] as IncomingMessage).headers['x-amz-target'];
    if (typeof target === 'string' && target.startsWith('AmazonSQS')) served.sqs++;
    else served.s3++;
  }
  return Reflect.apply(emit, this, [event, ...args]) as boolean;
} as typeof Server.prototype.emit;

interface ImageLog {
  timings: Record<string, number>;
}

const values = parseCommandLine({
  name: 'npm run bench:classifier --',
  summary:
    'Throughput of the classifier worker against the model alone: raw (tensors straight through the model) beside the pipeline (one built worker process against the embedded S3/SQS), with a per-stage breakdown.',
  flags: {
    images: { type: 'string', value: 'DIR', description: 'benchmark images', default: join(DATASET_DIR, 'imagenet-100/images') },
    json: { type: 'string', value: 'OUT', description: 'write the report as JSON' },
    rounds: { type: 'string', description: 'rounds after the cold one (medians are reported)', default: '3', number: { integer: true, min: 1 } },
    batch: { type: 'string', value: 'N[,N...]', description: 'INFERENCE_BATCH_SIZE values, each measured in turn', default: process.env['INFERENCE_BATCH_SIZE'] ?? '1' },
    prefetch: { type: 'string', description: "the worker's WORKER_PREFETCH", default: process.env['WORKER_PREFETCH'] ?? '20', number: { integer: true, min: 1 } },
    backend: { type: 'string', description: 'TF_BACKEND: auto, tensorflow, wasm or cpu', default: process.env['TF_BACKEND'] ?? 'auto' },
    engine: { type: 'string', value: 'E[,E...]', description: 'INFERENCE_ENGINE values (auto, onnx, tfjs), each measured in turn', default: process.env['INFERENCE_ENGINE'] ?? 'auto' },
    'no-build': { type: 'boolean', description: 'use the worker already built in dist/' },
    // Only the model alone at each --batch size (no worker, no emulator): a quick comparison.
    'raw-only': { type: 'boolean', description: 'only the model alone at each --batch size (no worker, no emulator)' },
  },
  epilog: 'Model: MODEL_DIR, else MODEL_URL, else the default model (as the worker).',
});

async function main(): Promise<void> {
  const rounds = Math.max(1, Number(values.rounds));
  const batches = values.batch.split(',').map((b) => Math.max(1, Number(b)));
  if (batches.some((b) => !Number.isInteger(b))) throw new Error(`--batch takes sizes like 1 or 1,4,8 (got ${values.batch})`);
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
      const { backend, model, results } = await measureRaw(files, batch, values.backend, rounds, engines[0]);
      rows.push({
        backend,
        model,
        batchSize: batch,
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
async function measureEngine(files: ImageFile[], batches: number[], rounds: number, options: { backend: string; prefetch: string; engine: EnginePreference }) {
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

/** Raw model rate, then one worker process on the embedded S3/SQS, then the raw rate again, at one batch size. */
async function measureBatch(files: ImageFile[], batch: number, rounds: number, options: { backend: string; prefetch: string; engine: EnginePreference }) {
  const before = await measureRaw(files, batch, options.backend, rounds, options.engine);

  const stack: TestStack = await startTestStack();
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
  });
  const perRound: { rate: number; logs: ImageLog[]; cpu: ReturnType<typeof cpuPerImage>; requests: { s3: number; sqs: number } }[] = [];
  let coldStartMs = 0;
  let workerColdStartMs = 0;
  let rssAfterFirst: number | undefined;
  let rssAfterAll: number | undefined;
  let verified = 0;
  try {
    const polling = await worker.waitForLine(/polling the launch queue/, 60_000);
    coldStartMs = performance.now() - spawnedAt;
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
        done.push(JSON.parse(line) as ImageLog);
        if (done.length >= target) onTarget?.();
      }
    });
    const r = stack.resources;
    for (let round = 0; round <= rounds; round++) {
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
      perRound.push({ rate: files.length / seconds, logs: done, cpu, requests });
      if (round === 0) rssAfterFirst = rssMb(worker.process.pid ?? 0);
      // Untimed: every result is in the bucket and on the output queue.
      let outputs = 0;
      while (outputs < files.length) {
        const got = await r.outputQueue.receive({ maxMessages: 10, waitSeconds: 1 });
        if (got.length === 0) throw new Error(`only ${outputs} of ${files.length} output messages arrived`);
        for (const m of got) if (ids.includes(parseOutputMessage(m.body).imageId)) outputs++;
        await r.outputQueue.deleteBatch(got.map((m) => m.receiptHandle));
      }
      for (const id of ids) if (!(await r.outputBucket.exists(`${id}.json`))) throw new Error(`no result for ${id}`);
      verified += files.length;
    }
    rssAfterAll = rssMb(worker.process.pid ?? 0);
  } finally {
    const code = await worker.stop();
    if (code !== 0) console.error(`worker exited with ${code}`);
    await stack.stop();
  }

  const after = await measureRaw(files, batch, options.backend, rounds, options.engine);
  const rawRates = [...before.results, ...after.results].map((x) => x.rate);
  const raw = median(rawRates);
  const timed = perRound.slice(1);
  const pipeline = median(timed.map((x) => x.rate));
  const logs = timed.flatMap((x) => x.logs);
  const avg = (k: string) => r2(logs.reduce((s, l) => s + (l.timings[`${k}Ms`] ?? 0), 0) / logs.length);
  const totals = logs.map((l) => l.timings['totalMs']);
  const cpuKeys = Object.keys(timed[0].cpu) as (keyof (typeof timed)[0]['cpu'])[];
  const cpuMsPerImage = Object.fromEntries(cpuKeys.map((k) => [k, r2(median(timed.map((x) => x.cpu[k] ?? 0)))])) as Record<string, number>;
  const cpuTotal = Object.values(cpuMsPerImage).reduce((a, b) => a + b, 0);
  const rawCpuMsPerImage = median([...before.results, ...after.results].map((x) => x.cpuMsPerImage));
  // The worker's threads less the model's own CPU: what the worker spends around the model.
  const workerCpu = (cpuMsPerImage['workerMainThread'] ?? 0) + (cpuMsPerImage['workerOtherThreads'] ?? 0);
  const workerOutsideModel = cpuMsPerImage['workerMainThread'] === undefined ? undefined : r2(Math.max(0, workerCpu - rawCpuMsPerImage));
  const cores = availableParallelism();
  const report = {
    engine: options.engine,
    backend: before.backend,
    model: before.model,
    images: files.length,
    rawImagesPerSecond: r1(raw),
    pipelineImagesPerSecond: r1(pipeline),
    ratio: r2(pipeline / raw),
    p50Ms: r1(percentile(totals, 50)),
    p95Ms: r1(percentile(totals, 95)),
    breakdownMs: Object.fromEntries(BREAKDOWN.map((k) => [k, avg(k)])),
    rawMsPerImage: r2(1000 / raw),
    // The model's own CPU per image (the raw loop is single-threaded): steadier than wall time on a busy machine.
    rawCpuMsPerImage: r1(rawCpuMsPerImage),
    // What bounds the pipeline: CPU per image of the worker's threads and of the emulator, on this many cores.
    cpuMsPerImage: { ...cpuMsPerImage, total: r2(cpuTotal), workerOutsideModel },
    cores,
    cpuBoundImagesPerSecond: r1((cores * 1000) / cpuTotal),
    // Requests to the emulator per image in the timed rounds (the bench's own launch sends included).
    requestsPerImage: { s3: r2(median(timed.map((x) => x.requests.s3))), sqs: r2(median(timed.map((x) => x.requests.sqs))) },
    coldStartMs: Math.round(coldStartMs),
    workerColdStartMs,
    rssMbAfterFirst100: files.length === 100 ? rssAfterFirst : undefined,
    rssMbAfterFirstRound: rssAfterFirst,
    rssMbAtEnd: rssAfterAll,
    batchSize: batch,
    prefetch: Number(options.prefetch),
    rounds,
    coldRoundImagesPerSecond: r1(perRound[0].rate),
    pipelineRoundsImagesPerSecond: timed.map((x) => r1(x.rate)),
    rawRoundsImagesPerSecond: rawRates.map(r1),
    imagesVerified: verified,
  };
  console.log(
    `${options.engine}: ${report.backend}, ${report.model}: worker outside the model ${workerOutsideModel ?? '?'} ms CPU per image; raw ${report.rawImagesPerSecond} img/s, pipeline ${report.pipelineImagesPerSecond} img/s, ratio ${report.ratio}; ` +
      `p50 ${report.p50Ms} ms, p95 ${report.p95Ms} ms; cold start ${report.coldStartMs} ms; RSS ${report.rssMbAfterFirstRound} MB after ${files.length} images`,
  );
  return report;
}

runMain('bench:classifier', async () => {
  await main();
  return EXIT.done;
});
