/**
 * `npx tsx --tsconfig tsconfig.base.json tools/bench/src/bench-engines.ts [--images DIR] [--count 64] [--batch 1,4,8,16] [--threads 1] [--engines onnx,tfjs] [--json OUT]`
 *
 * The model alone on each engine, one core by default (ONNX Runtime with one
 * intra-op thread; TF.js on wasm has no threads in Node): the same decoded
 * images (the worker's own preprocessing) through the default model (or
 * MODEL_DIR), in batches of each size. Prints, per engine and batch size,
 * wall ms per image and CPU ms per image (what this process used, which a busy
 * machine distorts less than wall time), medians of --rounds rounds.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EXIT, parseCommandLine, runMain, UsageError } from '@app/command-line';
import { Classifier, LocalEngine, silentLogger, type EnginePreference } from '@app/classifier';
import { DATASET_DIR, requireSharedData } from '@tools/testing';
import { median } from '@tools/loadgen';
import { modelBatches } from './lib/model-batches';

const r1 = (x: number) => Math.round(x * 10) / 10;

async function measure(engine: LocalEngine, inputs: Float32Array[], batch: number): Promise<{ wallMs: number; cpuMs: number }> {
  const batches = modelBatches(inputs, batch);
  const cpu = process.cpuUsage();
  const started = performance.now();
  // A fresh copy per call: a run may take its input over.
  for (const b of batches) await engine.run(b.data.slice(), b.n);
  const used = process.cpuUsage(cpu);
  return { wallMs: (performance.now() - started) / inputs.length, cpuMs: (used.user + used.system) / 1000 / inputs.length };
}

const values = parseCommandLine({
  name: 'npx tsx --tsconfig tsconfig.base.json tools/bench/src/bench-engines.ts',
  summary: 'The model alone on each engine and batch size: wall and CPU ms per image, medians of the rounds (one core by default).',
  flags: {
    images: { type: 'string', value: 'DIR', description: 'images to decode and run', default: join(DATASET_DIR, 'imagenet-sample/images') },
    count: { type: 'string', description: 'the first N images', default: '64', number: { integer: true, min: 1 } },
    batch: { type: 'string', value: 'N[,N...]', description: 'batch sizes', default: '1,4,8,16' },
    threads: { type: 'string', description: 'ONNX Runtime intra-op threads', default: '1', number: { integer: true, min: 1 } },
    rounds: { type: 'string', description: 'rounds per batch size', default: '3', number: { integer: true, min: 1 } },
    engines: { type: 'string', value: 'E[,E...]', description: 'engines: onnx, tfjs', default: 'onnx,tfjs' },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
  },
  epilog: 'The model: MODEL_DIR, else the default model.',
});

runMain('bench-engines', async () => {
  const sizes = values.batch.split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new UsageError(`--batch takes sizes like 1 or 1,4,8 (got ${values.batch})`);
  const bad = values.engines.split(',').filter((e) => !['onnx', 'tfjs', 'auto'].includes(e));
  if (bad.length > 0) throw new UsageError(`--engines takes onnx, tfjs or auto, comma-separated (got ${bad.join(', ')})`);
  let dir: string;
  try {
    dir = requireSharedData(resolve(values.images), 'The benchmark images (--images)');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const files = readdirSync(dir).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort().slice(0, Number(values.count));
  const threads = Number(values.threads);
  const report: Record<string, unknown> = { images: files.length, threads, rounds: Number(values.rounds), engines: {} };
  for (const name of values.engines.split(',') as EnginePreference[]) {
    const classifier = await Classifier.create({ modelDir: process.env['MODEL_DIR'], engine: name, thread: false, inferenceThreads: threads }, silentLogger);
    const inputs = await Promise.all(files.map(async (f) => (await classifier.decode(readFileSync(join(dir, f)))).data));
    await classifier.close();
    const engine = await LocalEngine.start(classifier.runnerOptions, silentLogger);
    const bySize: Record<string, { wallMsPerImage: number; cpuMsPerImage: number }> = {};
    try {
      await measure(engine, inputs.slice(0, 8), 1); // warm-up
      for (const batch of sizes) {
        const rounds = [];
        for (let r = 0; r < Number(values.rounds); r++) rounds.push(await measure(engine, inputs, batch));
        bySize[batch] = { wallMsPerImage: r1(median(rounds.map((x) => x.wallMs))), cpuMsPerImage: r1(median(rounds.map((x) => x.cpuMs))) };
        console.log(`${name} (${engine.info.backend}) batch ${batch}: ${bySize[batch].wallMsPerImage} ms/image wall, ${bySize[batch].cpuMsPerImage} ms/image CPU`);
      }
    } finally {
      await engine.close();
    }
    (report['engines'] as Record<string, unknown>)[name] = { backend: engine.info.backend, model: classifier.model, batch: bySize };
  }
  console.log(JSON.stringify(report));
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  return EXIT.done;
});
