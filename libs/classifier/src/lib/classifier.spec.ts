import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { MODEL_DIR, SCENES_DIR, SMALL_IMAGES_DIR } from '@tools/testing/files';
import { ReferenceModel } from '../../test/reference-model';
import { Classifier, type Classification } from './classifier';
import { ImageDecodeError, ModelLoadError } from './errors';
import type { ClassifierLogger } from './logger';
import { IMAGENET_LABELS } from './labels';
import { PixelBatches } from './model-input';
import { decodeImage } from './preprocess';

const SAMPLE = SCENES_DIR;
const SMALL = SMALL_IMAGES_DIR;
const read = (dir: string, name: string) => readFileSync(join(dir, name));

/** The test model's own answer for an image, computed without the Classifier (see ReferenceModel). */
const references = new Map<string, Promise<ReferenceModel>>();
async function referenceTop1(bytes: Buffer, inputRange: [number, number] = [0, 1]) {
  const key = inputRange.join();
  if (!references.has(key)) {
    references.set(key, ReferenceModel.load(MODEL_DIR, { inputSize: 224, cropFraction: 1, kernel: 'lanczos3', labelOffset: 1, applySoftmax: true, inputRange }));
  }
  return (await references.get(key))?.top1(bytes, IMAGENET_LABELS) ?? Promise.reject(new Error('no reference model'));
}

// The reference runs on TF.js in this thread, on a loaded CI machine: a few seconds per image at worst.
jest.setTimeout(60_000);

function recordingLogger() {
  const lines: { level: string; fields: object; msg: string }[] = [];
  const log: ClassifierLogger = {
    info: (fields, msg) => lines.push({ level: 'info', fields, msg }),
    warn: (fields, msg) => lines.push({ level: 'warn', fields, msg }),
  };
  return { log, lines };
}

let tfjsNodeInstalled = true;
try {
  require.resolve('@tensorflow/tfjs-node');
} catch {
  tfjsNodeInstalled = false;
}

describe('Classifier on the shared pretrained model (worker thread)', () => {
  let classifier: Classifier;
  const { log, lines } = recordingLogger();
  beforeAll(async () => {
    classifier = await Classifier.create({ modelDir: MODEL_DIR }, log);
  }, 60_000);
  afterAll(() => classifier.close());

  it('chooses tfjs-node when it loads, else wasm, and logs the choice', () => {
    expect(classifier.backend).toBe(tfjsNodeInstalled ? 'tensorflow' : 'wasm');
    expect(classifier.engineInfo).toMatchObject({ thread: true, format: 'graph', inputSize: 224, outputSize: 1001 });
    expect(classifier.labels.labelOffset).toBe(1);
    expect(classifier.model).toBe('mobilenet_v1_025_224');
    expect(lines.find((l) => l.msg.startsWith('model loaded'))?.fields).toMatchObject({
      backend: classifier.backend,
      inputSize: 224,
      inputRange: [0, 1],
      labelOffset: 1,
    });
  });

  it.each(['scene_0.jpg', 'scene_1.jpg', 'scene_2.jpg'])('gives %s the top-1 class the model itself computes, with its softmax confidence', async (file) => {
    const want = await referenceTop1(read(SAMPLE, file));
    const r = await classifier.classify(read(SAMPLE, file));
    expect(r).toMatchObject({ label: want.label, classIndex: want.classIndex });
    expect(r.confidence).toBeCloseTo(want.confidence, 3);
    expect(r.top5).toHaveLength(5);
    expect(r.top5[0]).toEqual({ label: r.label, classIndex: r.classIndex, confidence: r.confidence });
    const sum = r.top5.reduce((s, p) => s + p.confidence, 0);
    expect(sum).toBeLessThanOrEqual(1.0001);
    expect(r.decodeMs).toBeGreaterThan(0);
    expect(r.inferenceMs).toBeGreaterThan(0);
  });

  it('raises a permanent ImageDecodeError for bytes it cannot decode, and goes on working', async () => {
    await expect(classifier.classify(Buffer.from('not an image'))).rejects.toBeInstanceOf(ImageDecodeError);
    const { label } = await referenceTop1(read(SAMPLE, 'scene_0.jpg'));
    await expect(classifier.classify(read(SAMPLE, 'scene_0.jpg'))).resolves.toMatchObject({ label });
  });

  it('re-uses the pixel batches the model thread hands back, with the same answers as one at a time', async () => {
    const take = jest.spyOn(PixelBatches.prototype, 'take');
    const give = jest.spyOn(PixelBatches.prototype, 'give');
    try {
      const images = readdirSync(SMALL).slice(10, 30).map((f) => read(SMALL, f));
      const one: Classification[] = [];
      for (const bytes of images) one.push(await classifier.classify(bytes));
      // All at once: batches in flight together, in arrays handed back by earlier ones (a stale or shared array would mix answers up).
      const decoded = await Promise.all(images.map((bytes) => classifier.decode(bytes)));
      const all = await Promise.all(decoded.map((d) => classifier.infer(d)));
      all.forEach((r, i) => {
        expect(r.top5[0].classIndex).toBe(one[i].classIndex);
        expect(r.top5[0].confidence).toBeCloseTo(one[i].confidence, 4);
      });
      // Every batch's array came back whole (transferred, not copied), and all but a few batches went in one handed back.
      expect(give.mock.calls.length).toBe(take.mock.calls.length);
      for (const [array] of give.mock.calls) expect(array.byteLength).toBe(array.buffer.byteLength);
      const handedBack = new Set(give.mock.calls.map(([array]) => array));
      const fresh = take.mock.results.filter((r) => !handedBack.has(r.value as Uint8Array)).length;
      expect(take.mock.calls.length).toBeGreaterThanOrEqual(images.length + images.length / classifier.maxBatch);
      expect(fresh).toBeLessThanOrEqual(3 * classifier.maxBatch);
    } finally {
      take.mockRestore();
      give.mockRestore();
    }
  }, 60_000);

  // Ten images: a leak is per image, so any leak shows as ten or more tensors.
  it('leaks no tensors: the count is unchanged after 10 images', async () => {
    const files = readdirSync(SMALL).slice(0, 10);
    expect(files).toHaveLength(10);
    const before = await classifier.numTensors();
    for (const f of files) await classifier.classify(read(SMALL, f));
    expect(await classifier.numTensors()).toBe(before);
  }, 60_000);
});

describe('Classifier in this thread', () => {
  let classifier: Classifier;
  beforeAll(async () => {
    classifier = await Classifier.create({ modelDir: MODEL_DIR, thread: false, maxBatch: 4 });
  }, 60_000);
  afterAll(() => classifier.close());

  it('leaks no tensors (tf.memory().numTensors) after 10 images', async () => {
    const files = readdirSync(SMALL).slice(0, 10);
    const before = tf.memory().numTensors;
    for (const f of files) await classifier.classify(read(SMALL, f));
    expect(tf.memory().numTensors).toBe(before);
    expect(await classifier.numTensors()).toBe(before);
  }, 60_000);

  it('batches concurrent images (up to maxBatch) with the same answers as one at a time', async () => {
    const images = [...readdirSync(SAMPLE).map((f) => read(SAMPLE, f)), ...readdirSync(SMALL).slice(0, 8).map((f) => read(SMALL, f))];
    const one: Classification[] = [];
    for (const bytes of images) one.push(await classifier.classify(bytes));
    const decoded = await Promise.all(images.map((bytes) => classifier.decode(bytes)));
    const all = await Promise.all(decoded.map((d) => classifier.infer(d)));
    expect(Math.max(...all.map((r) => r.batchSize))).toBeGreaterThan(1);
    expect(Math.max(...all.map((r) => r.batchSize))).toBeLessThanOrEqual(4);
    all.forEach((r, i) => {
      expect(r.top5[0].classIndex).toBe(one[i].classIndex);
      expect(r.top5[0].confidence).toBeCloseTo(one[i].confidence, 4);
    });
  }, 60_000);
});

describe('backend choice', () => {
  it('uses the pure-JS cpu backend only when forced, with a warning', async () => {
    const { log, lines } = recordingLogger();
    const c = await Classifier.create({ modelDir: MODEL_DIR, backend: 'cpu' }, log);
    try {
      expect(c.backend).toBe('cpu');
      expect(lines.some((l) => l.level === 'warn' && /25 times slower/.test(l.msg))).toBe(true);
      const { label } = await referenceTop1(read(SAMPLE, 'scene_1.jpg'));
      await expect(c.classify(read(SAMPLE, 'scene_1.jpg'))).resolves.toMatchObject({ label });
    } finally {
      await c.close();
    }
  }, 60_000);

  (tfjsNodeInstalled ? it.skip : it)('refuses TF_BACKEND=tensorflow where tfjs-node cannot load, saying why', async () => {
    await expect(Classifier.create({ modelDir: MODEL_DIR, backend: 'tensorflow' })).rejects.toThrow(
      /TF_BACKEND=tensorflow but @tensorflow\/tfjs-node cannot be used/,
    );
  }, 60_000);
});

describe('model facts from configuration, metadata.json, or the model', () => {
  /** The test model's graph and weights in a fresh folder, with only the given metadata.json. */
  function modelCopy(metadata?: object): string {
    const dir = mkdtempSync(join(tmpdir(), 'model-'));
    for (const f of ['model.json', 'group1-shard1of1']) copyFileSync(join(MODEL_DIR, f), join(dir, f));
    if (metadata) writeFileSync(join(dir, 'metadata.json'), JSON.stringify(metadata));
    return dir;
  }

  it('reads input range, label offset, labels and name from metadata.json', async () => {
    const labels = Array.from({ length: 1001 }, (_, i) => `label-${i}`);
    const c = await Classifier.create(
      { modelDir: modelCopy({ name: 'mobilenet-test', inputRange: [-1, 1], labelOffset: 0, labels }), thread: false },
    );
    try {
      expect(c.model).toBe('mobilenet-test');
      expect(c.inputRange).toEqual([-1, 1]);
      expect(c.labels.labelOffset).toBe(0);
      // With the background output counted as class 0, output i is "label-i": one past the ImageNet class.
      const { classIndex } = await referenceTop1(read(SAMPLE, 'scene_0.jpg'), [-1, 1]);
      expect((await c.classify(read(SAMPLE, 'scene_0.jpg'))).label).toBe(`label-${classIndex + 1}`);
    } finally {
      await c.close();
    }
  }, 60_000);

  it('lets configuration override metadata', async () => {
    const c = await Classifier.create({ modelDir: modelCopy({ inputRange: [-1, 1] }), inputRange: [0, 1], labelOffset: 1, thread: false });
    try {
      expect(c.inputRange).toEqual([0, 1]);
      expect((await c.classify(read(SAMPLE, 'scene_0.jpg'))).label).toBe((await referenceTop1(read(SAMPLE, 'scene_0.jpg'))).label);
    } finally {
      await c.close();
    }
  }, 60_000);

  it('refuses a bad metadata.json, naming the file and the field', async () => {
    await expect(Classifier.create({ modelDir: modelCopy({ inputRange: [1, 0] }), thread: false })).rejects.toThrow(
      /metadata\.json: inputRange must be \[min, max\] with min < max/,
    );
  });

  it('fails at start-up, not at the first image, when the input size is wrong', async () => {
    await expect(Classifier.create({ modelDir: MODEL_DIR, inputSize: 100, thread: false })).rejects.toThrow(/set MODEL_INPUT_SIZE/);
  }, 60_000);

  it('refuses a missing model folder', async () => {
    await expect(Classifier.create({ modelDir: '/nonexistent/model' })).rejects.toBeInstanceOf(ModelLoadError);
  });

  it('preprocesses as metadata.json says: crop fraction and resize kernel', async () => {
    const c = await Classifier.create({ modelDir: modelCopy({ cropFraction: 0.5, resizeKernel: 'nearest' }), thread: false });
    try {
      expect([c.cropFraction, c.resizeKernel]).toEqual([0.5, 'nearest']);
      const photo = read(SAMPLE, 'scene_0.jpg');
      const viaMetadata = (await c.decode(photo)).data;
      const options = { size: 224, range: [0, 1] as const, maxBytes: 1e8, maxPixels: 1e8 };
      expect(Buffer.from(viaMetadata.buffer)).toEqual(Buffer.from((await decodeImage(photo, { ...options, cropFraction: 0.5, kernel: 'nearest' })).data.buffer));
      expect(Buffer.from(viaMetadata.buffer)).not.toEqual(Buffer.from((await decodeImage(photo, options)).data.buffer));
    } finally {
      await c.close();
    }
  }, 60_000);

  it('without metadata, takes the whole centred square with lanczos3', async () => {
    const c = await Classifier.create({ modelDir: modelCopy(), thread: false });
    try {
      expect([c.cropFraction, c.resizeKernel]).toEqual([1, 'lanczos3']);
    } finally {
      await c.close();
    }
  }, 60_000);

  it('refuses tensor names in metadata.json that the graph does not have, naming them', async () => {
    await expect(Classifier.create({ modelDir: modelCopy({ inputName: 'pixels' }), thread: false })).rejects.toThrow(
      /metadata's inputName "pixels" is not an input of the model \(images\)/,
    );
    await expect(Classifier.create({ modelDir: modelCopy({ outputName: 'logits' }), thread: false })).rejects.toThrow(
      /metadata's outputName "logits" is not an output of the model/,
    );
    await expect(Classifier.create({ modelDir: modelCopy({ resizeKernel: 'bicubic' }), thread: false })).rejects.toThrow(
      /resizeKernel must be one of nearest, linear, cubic/,
    );
    await expect(Classifier.create({ modelDir: modelCopy({ cropFraction: 1.5 }), thread: false })).rejects.toThrow(/cropFraction must be a number in \(0, 1\]/);
  }, 60_000);

  it('refuses a model whose weights do not match its manifest', async () => {
    const dir = modelCopy();
    const weights = 'group1-shard1of1';
    writeFileSync(join(dir, weights), readFileSync(join(dir, weights)).subarray(0, 1000));
    await expect(Classifier.create({ modelDir: dir })).rejects.toThrow(/takes 1000 bytes, the manifest says 1875348/);
  });

  it('loads a layers model too, with its own input size, classes and softmax output', async () => {
    // A tiny Keras-style model: 16x16 RGB in, 3 probabilities out, saved as model.json + weights.
    const dir = mkdtempSync(join(tmpdir(), 'layers-'));
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 2, kernelSize: 3, activation: 'relu' }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        writeFileSync(join(dir, 'weights.bin'), Buffer.from(artifacts.weightData as ArrayBuffer));
        writeFileSync(
          join(dir, 'model.json'),
          JSON.stringify({
            format: 'layers-model',
            modelTopology: artifacts.modelTopology,
            weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
          }),
        );
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    model.dispose();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'metadata.json'), JSON.stringify({ labels: ['cat', 'dog', 'bird'] }));
    const c = await Classifier.create({ modelDir: dir, thread: false });
    try {
      expect(c.engineInfo).toMatchObject({ format: 'layers', inputSize: 16, outputSize: 3 });
      expect(c.labels.labelOffset).toBe(0);
      const r = await c.classify(read(SAMPLE, 'scene_0.jpg'));
      expect(['cat', 'dog', 'bird']).toContain(r.label);
      expect(r.top5).toHaveLength(3);
      expect(r.top5.reduce((s, p) => s + p.confidence, 0)).toBeCloseTo(1, 4);
    } finally {
      await c.close();
    }
  }, 60_000);
});
