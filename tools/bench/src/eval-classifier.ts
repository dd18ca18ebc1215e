/**
 * `npm run eval:classifier -- [--engine auto|onnx|tfjs] [--images DIR] [--expected FILE] [--model DIR] [--json OUT]`
 *
 * Top-1 / top-5 accuracy of the classifier (the worker's own preprocessing and
 * model code) on labelled images. FILE maps each image's name without its
 * extension to its true class: `{ "n01440764_tench": { "classIndex": 0, "label": "tench" } }`
 * (a plain label string per image works too). The model is the worker's: `--model`
 * or MODEL_DIR, else MODEL_URL, else the default model (EfficientNet-B0). `--engine`
 * (default INFERENCE_ENGINE, else auto: ONNX Runtime when the model has a model.onnx)
 * picks the engine, which the report names. Images default to
 * ../shared/datasets/imagenet-sample. Exits 1 when an image is missing from FILE.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { EXIT, parseCommandLine, runMain, UsageError } from '@app/command-line';
import { Classifier, consoleLogger, enginePreferenceFromEnv, INFERENCE_ENGINES, type EnginePreference, type Prediction } from '@app/classifier';
import { DATASET_DIR, requireSharedData } from '@tools/testing';

type Expected = Record<string, { classIndex?: number; label: string } | string>;

function matches(p: Prediction, truth: { classIndex?: number; label: string }): boolean {
  return truth.classIndex !== undefined ? p.classIndex === truth.classIndex : p.label === truth.label;
}

const values = parseCommandLine({
  name: 'npm run eval:classifier --',
  summary: "Top-1 and top-5 accuracy of the classifier (the worker's own preprocessing and model code) on labelled images.",
  flags: {
    images: { type: 'string', value: 'DIR', description: 'labelled images', default: join(DATASET_DIR, 'imagenet-sample/images') },
    expected: { type: 'string', value: 'FILE', description: 'true class per image name (without extension)', default: join(DATASET_DIR, 'imagenet-sample/expected-labels.json') },
    model: { type: 'string', value: 'DIR', description: 'the model folder (default MODEL_DIR, else MODEL_URL, else the default model)', default: process.env['MODEL_DIR'] },
    backend: { type: 'string', description: 'TF_BACKEND: auto, tensorflow, wasm or cpu', default: process.env['TF_BACKEND'] ?? 'auto' },
    engine: { type: 'string', description: 'INFERENCE_ENGINE', default: enginePreferenceFromEnv(), choices: INFERENCE_ENGINES },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
    verbose: { type: 'boolean', description: 'list every miss' },
  },
});

/** The shared data sets are not in a fresh clone: saying so is a usage message, not a crash. */
function needShared(path: string, what: string): string {
  try {
    return requireSharedData(path, what);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

runMain('eval:classifier', async () => {
  const dir = needShared(resolve(values.images), 'The evaluation images (--images)');
  const expected = JSON.parse(readFileSync(needShared(resolve(values.expected), 'The true classes (--expected)'), 'utf8')) as Expected;
  const files = readdirSync(dir).filter((f) => /\.(jpe?g|png|webp|gif)$/i.test(f)).sort();
  // The model in its thread, as in the worker, so that decoding the next images overlaps inference.
  const classifier = await Classifier.create(
    {
      modelDir: values.model,
      modelUrl: process.env['MODEL_URL'],
      modelSha256: process.env['MODEL_SHA256'],
      modelCacheDir: process.env['MODEL_CACHE_DIR'],
      backend: values.backend as 'auto',
      engine: values.engine as EnginePreference,
    },
    consoleLogger,
  );
  let top1 = 0;
  let top5 = 0;
  let errors = 0;
  const misses: string[] = [];
  const started = performance.now();
  const truths = files.map((file) => {
    const key = basename(file, extname(file));
    const raw = expected[key];
    if (raw === undefined) throw new Error(`${file} has no entry in ${values.expected}`);
    return { file, key, truth: typeof raw === 'string' ? { label: raw } : raw };
  });
  const evaluate = async ({ file, key, truth }: (typeof truths)[number]) => {
    try {
      const r = await classifier.classify(readFileSync(join(dir, file)));
      if (matches(r.top5[0], truth)) top1++;
      else misses.push(`${key}: ${r.label} (${r.confidence.toFixed(2)})`);
      if (r.top5.some((p) => matches(p, truth))) top5++;
    } catch (err) {
      errors++;
      misses.push(`${key}: ERROR ${(err as Error).message}`);
    }
  };
  try {
    // A few images in flight: the next ones decode while the model works.
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < truths.length) await evaluate(truths[next++]);
    }));
  } finally {
    await classifier.close();
  }
  const n = files.length;
  const pct = (k: number) => `${((100 * k) / n).toFixed(1)} %`;
  const summary = {
    engine: classifier.engineInfo.engine,
    backend: classifier.backend,
    model: classifier.model,
    images: n,
    top1,
    top5,
    errors,
    top1Accuracy: +(top1 / n).toFixed(4),
    top5Accuracy: +(top5 / n).toFixed(4),
    seconds: +((performance.now() - started) / 1000).toFixed(1),
  };
  if (values.verbose) for (const m of misses.sort()) console.log(`miss ${m}`);
  console.log(JSON.stringify(summary));
  console.log(`top-1 ${top1}/${n} (${pct(top1)}), top-5 ${top5}/${n} (${pct(top5)}), ${errors} errors; ${classifier.model} on ${classifier.engineInfo.engine} (${classifier.backend})`);
  if (values.json) writeFileSync(values.json, JSON.stringify(summary, null, 2) + '\n');
  return EXIT.done;
});
