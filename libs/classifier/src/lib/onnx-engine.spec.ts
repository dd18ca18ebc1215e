/**
 * @jest-environment ./test/onnx-jest-environment.cjs
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { convertModelFolder } from '@tools/onnx-convert';
import { MODEL_DIR, scene, smallImage, WORKSPACE_ROOT } from '@tools/testing/files';
import { makeTestCertificate, resolveInChild, startHttpsModelServer, stopModelResolver, type TestCertificate } from '../testing/https-model-server';
import { sha256OfFile } from './checksums';
import { Classifier, type Inference } from './classifier';
import { ThreadEngine } from './engine';
import type { ModelInput } from './model-input';
import { enginePreferenceFromEnv, intraOpThreads } from './engine-choice';
import { ModelIntegrityError, ModelLoadError } from './errors';
import { silentLogger } from './logger';
import { feedingThreadsNice } from './thread-priority';
import { resolveModelSource } from './model-source';

/**
 * The ONNX Runtime engine, on the repository's small test model (MobileNet V1)
 * converted to ONNX here: a folder with model.onnx and the same metadata.json,
 * and one with both forms side by side.
 */
let root: string;
let onnxOnly: string;
let both: string;
const images = [scene(0), scene(2), smallImage(3), smallImage(40)];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'onnx-engine-'));
  onnxOnly = join(root, 'mobilenet-onnx');
  both = join(root, 'mobilenet-both');
  mkdirSync(onnxOnly);
  mkdirSync(both);
  convertModelFolder(join(MODEL_DIR, 'model.json'), join(onnxOnly, 'model.onnx'));
  copyFileSync(join(MODEL_DIR, 'metadata.json'), join(onnxOnly, 'metadata.json'));
  for (const f of ['model.json', 'group1-shard1of1', 'metadata.json']) copyFileSync(join(MODEL_DIR, f), join(both, f));
  copyFileSync(join(onnxOnly, 'model.onnx'), join(both, 'model.onnx'));
}, 60_000);

afterAll(() => {
  stopModelResolver();
  rmSync(root, { recursive: true, force: true });
});

describe('INFERENCE_ENGINE', () => {
  it('auto runs ONNX Runtime for a folder with model.onnx, and answers as TF.js does on the same model', async () => {
    const onnx = await Classifier.create({ modelDir: both, engine: 'auto' });
    const tfjs = await Classifier.create({ modelDir: both, engine: 'tfjs' });
    try {
      expect(onnx.engineInfo).toMatchObject({ engine: 'onnx', backend: 'onnxruntime-cpu', format: 'onnx', thread: true, outputSize: 1001 });
      expect(onnx.source.modelSha256).toBe(sha256OfFile(join(both, 'model.onnx')));
      expect(tfjs.engineInfo).toMatchObject({ engine: 'tfjs', format: 'graph' });
      for (const { name, bytes } of images) {
        const [a, b] = await Promise.all([onnx.classify(bytes), tfjs.classify(bytes)]);
        expect({ name, label: a.label }).toEqual({ name, label: b.label });
        expect(a.confidence).toBeCloseTo(b.confidence, 3);
      }
    } finally {
      await Promise.all([onnx.close(), tfjs.close()]);
    }
  }, 120_000);

  it('auto falls back to TF.js for a folder without model.onnx; onnx and tfjs refuse a model that lacks their file', async () => {
    expect(await resolveModelSource({ modelDir: MODEL_DIR }, silentLogger)).toMatchObject({ engine: 'tfjs', modelPath: join(MODEL_DIR, 'model.json') });
    await expect(resolveModelSource({ modelDir: MODEL_DIR, engine: 'onnx' }, silentLogger)).rejects.toThrow(
      new ModelLoadError(`INFERENCE_ENGINE=onnx but MODEL_DIR ${MODEL_DIR} has no model.onnx`),
    );
    await expect(resolveModelSource({ modelDir: onnxOnly, engine: 'tfjs' }, silentLogger)).rejects.toThrow(/INFERENCE_ENGINE=tfjs but MODEL_DIR .* has no model\.json/);
    expect(() => enginePreferenceFromEnv({ INFERENCE_ENGINE: 'tensorrt' })).toThrow(/INFERENCE_ENGINE must be one of auto, onnx, tfjs/);
    expect(enginePreferenceFromEnv({})).toBe('auto');
  });

  it('takes MODEL_DIR as the .onnx file itself, pinned by MODEL_SHA256 of that file', async () => {
    const file = join(onnxOnly, 'model.onnx');
    const sha = sha256OfFile(file);
    await expect(resolveModelSource({ modelDir: file, modelSha256: sha }, silentLogger)).resolves.toMatchObject({ engine: 'onnx', modelPath: file, modelSha256: sha });
    const err = await resolveModelSource({ modelDir: file, modelSha256: '0'.repeat(64) }, silentLogger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelIntegrityError);
    expect((err as Error).message).toContain(`model.onnx has SHA-256 ${sha}, MODEL_SHA256 is ${'0'.repeat(64)}`);
  });
});

describe('the ONNX engine in the calling thread', () => {
  it('gives each image of a batch what it gives the image alone, with the threads it was given', async () => {
    const c = await Classifier.create({ modelDir: onnxOnly, thread: false, maxBatch: 4, inferenceThreads: 1 });
    try {
      expect(c.engineInfo).toMatchObject({ engine: 'onnx', thread: false, threads: 1 });
      const decoded = await Promise.all(images.map((i) => c.decode(i.bytes)));
      const alone: Inference[] = [];
      for (const d of decoded) alone.push(await c.infer({ ...d, data: d.data.slice() }));
      const together = await Promise.all([...decoded, ...decoded.map((d) => ({ ...d, data: d.data.slice() }))].map((d) => c.infer(d)));
      // What waits while a batch runs goes in the next one, up to maxBatch.
      const sizes = together.map((r) => r.batchSize);
      expect(Math.max(...sizes)).toBeGreaterThan(1);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
      together.forEach((r, j) => {
        const i = j % images.length;
        expect(r.top5.map((p) => p.classIndex)).toEqual(alone[i].top5.map((p) => p.classIndex));
        r.top5.forEach((p, k) => expect(p.confidence).toBeCloseTo(alone[i].top5[k].confidence, 5));
      });
    } finally {
      await c.close();
    }
  }, 60_000);

  it('runs the model once at load at its largest batch, so that the first images do not pay for the first run at that size', async () => {
    // InferenceSession is typed as a factory; the value is the class whose instances the runner calls.
    const run = jest.spyOn((ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype, 'run');
    try {
      const c = await Classifier.create({ modelDir: onnxOnly, thread: false, maxBatch: 3, inferenceThreads: 1 });
      await c.close();
      const batches = run.mock.calls.map(([feeds]) => Object.values(feeds as ort.InferenceSession.FeedsType)[0].dims[0]);
      expect(batches).toEqual([1, 3]);
    } finally {
      run.mockRestore();
    }
  }, 60_000);

  it('shares the cores out among the model runs of a host', () => {
    expect([intraOpThreads(8, 1), intraOpThreads(8, 3), intraOpThreads(2, 4), intraOpThreads(4, 0)]).toEqual([8, 2, 1, 4]);
  });
});

describe('the ONNX engine in its own thread', () => {
  it("is handed a decoded image's 8-bit pixels and answers as from its values in the model's range, in batches of any size", async () => {
    const c = await Classifier.create({ modelDir: onnxOnly, maxBatch: 4, inferenceThreads: 1 });
    // What each batch handed to the thread was, read before its buffer is transferred away.
    const pixelBatches: { images: number; range: unknown }[] = [];
    const run = ThreadEngine.prototype.run;
    const handed = jest.spyOn(ThreadEngine.prototype, 'run').mockImplementation(function (this: ThreadEngine, input: ModelInput, n: number) {
      if (!(input instanceof Float32Array)) pixelBatches.push({ images: input.pixels.length / (c.inputSize * c.inputSize * 3), range: input.range });
      return run.call(this, input, n);
    });
    try {
      expect(c.engineInfo).toMatchObject({ engine: 'onnx', thread: true });
      const decoded = await Promise.all(images.map((i) => c.decode(i.bytes)));
      const fromValues: Inference[] = [];
      for (const d of decoded) fromValues.push(await c.infer(d.data));
      // Pixels and values queued together go in separate batches; then single images, which
      // read the start of the input buffer the thread re-uses from the full batch before.
      const together = await Promise.all([...decoded.map((d) => c.infer(d)), ...decoded.map((d) => c.infer(d.data))]);
      const alone: Inference[] = [];
      for (const d of decoded) alone.push(await c.infer(d));
      expect(pixelBatches.map((b) => b.images)).toEqual([1, 3, 1, 1, 1, 1]);
      expect(pixelBatches[0].range).toEqual(c.inputRange);
      for (const answers of [together.slice(0, images.length), together.slice(images.length), alone]) {
        answers.forEach((r, i) => {
          expect(r.top5.map((p) => p.classIndex)).toEqual(fromValues[i].top5.map((p) => p.classIndex));
          r.top5.forEach((p, k) => expect(p.confidence).toBeCloseTo(fromValues[i].top5[k].confidence, 6));
        });
      }
    } finally {
      handed.mockRestore();
      await c.close();
    }
  }, 60_000);

  it("leaves the priorities of a process that loads a model without asking (a test, a benchmark) as they were", async () => {
    const before = getPriority(0);
    const c = await Classifier.create({ modelDir: onnxOnly, maxBatch: 4, inferenceThreads: 1 });
    try {
      expect(c.engineInfo.thread).toBe(true);
      expect(getPriority(0)).toBe(before);
    } finally {
      await c.close();
    }
  }, 60_000);

  (existsSync('/proc/thread-self') ? it : it.skip)("'auto' (the worker's WORKER_OTHER_THREADS_NICE unset) lowers the rest of the process by whether the model leaves a core free", () => {
    // In a child: lowered priorities cannot be raised back without privileges.
    const script = `
      require(${JSON.stringify(require.resolve('tsx/cjs/api'))}).register();
      const { getPriority } = require('node:os');
      const { Classifier } = require(${JSON.stringify(join(__dirname, 'classifier.ts'))});
      const logged = [];
      const log = { info: (f, m) => logged.push({ ...f, msg: m }), warn() {}, error() {}, debug() {} };
      Classifier.create({ modelDir: ${JSON.stringify(onnxOnly)}, inferenceThreads: 1, otherThreadsNice: 'auto' }, log).then(async (c) => {
        const loaded = logged.find((l) => String(l.msg).startsWith('model loaded'));
        console.log(JSON.stringify({ main: getPriority(0), model: getPriority(c.engineInfo.threadId), logged: loaded.otherThreadsNice }));
        await c.close();
        process.exit(0);
      });`;
    const env = { ...process.env, TSX_TSCONFIG_PATH: join(WORKSPACE_ROOT, 'tsconfig.base.json') }; // the @app/ paths
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000, env });
    if (child.status !== 0) throw new Error(`the child failed (${child.status}):\n${child.stderr}`);
    const r = JSON.parse(child.stdout.trim().split('\n').pop() ?? '') as { main: number; model: number; logged?: number };
    const base = getPriority(0);
    const expected = feedingThreadsNice(1, availableParallelism());
    expect(r).toEqual({ model: base, main: Math.min(19, base + expected), logged: base + expected > base ? expected : undefined });
  }, 60_000);

  it("tells each image's share of the model's CPU time on its thread, where Node can read a thread's CPU", async () => {
    const c = await Classifier.create({ modelDir: onnxOnly, maxBatch: 4, inferenceThreads: 1 });
    try {
      const answers = [];
      for (let round = 0; round < 5; round++) {
        const decoded = await Promise.all(images.map((i) => c.decode(i.bytes)));
        answers.push(...(await Promise.all(decoded.map((d) => c.infer(d)))));
      }
      if (typeof process.threadCpuUsage !== 'function') {
        for (const a of answers) expect(a.modelCpuMs).toBeUndefined();
        return;
      }
      // A thread's CPU is counted in scheduler ticks: one run of this small model may read 0, the sum may not.
      const cpu = answers.reduce((sum, a) => sum + (a.modelCpuMs ?? NaN), 0);
      const wall = answers.reduce((sum, a) => sum + a.inferenceMs, 0);
      expect(cpu).toBeGreaterThan(0);
      // One thread: its CPU within the runs' wall time (give or take a tick at each end).
      expect(cpu).toBeLessThanOrEqual(wall + 10);
    } finally {
      await c.close();
    }
  }, 60_000);
});

describe('MODEL_URL of an ONNX model', () => {
  let cert: TestCertificate;
  beforeAll(async () => {
    cert = await makeTestCertificate();
  }, 30_000);

  it('downloads the .onnx file and metadata.json once, checks MODEL_SHA256 on it, and re-uses the cache', async () => {
    const onnxBytes = readFileSync(join(onnxOnly, 'model.onnx'));
    const srv = await startHttpsModelServer(cert, {
      '/m/mobilenet.onnx': onnxBytes,
      '/m/metadata.json': readFileSync(join(onnxOnly, 'metadata.json')),
    });
    try {
      const url = `${srv.origin}/m/mobilenet.onnx`;
      const cacheDir = mkdtempSync(join(tmpdir(), 'onnx-cache-'));
      const sha = sha256OfFile(join(onnxOnly, 'model.onnx'));
      const first = await resolveInChild({ modelUrl: url, cacheDir, modelSha256: sha }, cert);
      expect(first).toMatchObject({ ok: true, source: { engine: 'onnx', cached: false, modelSha256: sha, weightBytes: onnxBytes.length } });
      expect(srv.requests).toEqual(['/m/mobilenet.onnx', '/m/metadata.json', '/m/SHA256SUMS']);
      const again = await resolveInChild({ modelUrl: url, cacheDir, modelSha256: sha }, cert);
      expect(again).toMatchObject({ ok: true, source: { engine: 'onnx', cached: true } });
      expect(srv.requests).toHaveLength(3);
      const wrong = await resolveInChild({ modelUrl: url, cacheDir, modelSha256: 'f'.repeat(64) }, cert);
      expect(wrong).toMatchObject({ ok: false, error: { message: expect.stringMatching(/MODEL_SHA256 does not match: .*mobilenet\.onnx has SHA-256/) } });
      const refused = await resolveInChild({ modelUrl: url, cacheDir, engine: 'tfjs' }, cert);
      expect(refused).toMatchObject({ ok: false, error: { message: expect.stringMatching(/INFERENCE_ENGINE=tfjs but MODEL_URL .* has no model\.json/) } });
    } finally {
      await srv.close();
    }
  }, 120_000);
});
