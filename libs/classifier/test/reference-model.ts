import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';

interface ModelJson {
  modelTopology: object;
  format?: string;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

export interface ReferenceOptions {
  inputSize: number;
  /** Side of the centred square the model sees, as a fraction of the shorter edge. */
  cropFraction: number;
  kernel: 'lanczos3' | 'cubic';
  /** Pixel 0 maps to min, 255 to max (default [0, 1]). */
  inputRange?: [number, number];
  /** Output index of ImageNet class 0. */
  labelOffset: number;
  /** True when the model outputs logits (softmax applied here); false when it outputs probabilities. */
  applySoftmax: boolean;
  outputName?: string;
}

/**
 * A graph model's top-1 for an image, computed without the Classifier: the
 * graph loaded from memory in this thread, pixels cropped and resized by sharp
 * alone and scaled to the input range. Tests hold the Classifier's answer against it, so
 * they prove preprocessing, label offset and softmax on any image; how often the
 * model is right about real photos is the evaluation's business (npm run eval:classifier).
 */
export class ReferenceModel {
  private constructor(
    private readonly model: tf.GraphModel,
    private readonly options: ReferenceOptions,
  ) {}

  static async load(modelDir: string, options: ReferenceOptions): Promise<ReferenceModel> {
    const json = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')) as ModelJson;
    const weights = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(modelDir, p)))));
    const model = await tf.loadGraphModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        format: json.format,
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
        weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.length) as ArrayBuffer,
      }),
    );
    return new ReferenceModel(model, options);
  }

  /** The top-1 class (ImageNet index, offset removed) and its probability. */
  async top1(bytes: Buffer, labels: readonly string[]): Promise<{ label: string; classIndex: number; confidence: number }> {
    const { inputSize: size, cropFraction, kernel, labelOffset, applySoftmax, outputName, inputRange: [min, max] = [0, 1] } = this.options;
    // The centred square of cropFraction x the shorter edge at size x size: "resize 256, centre crop 224".
    const scaled = Math.round(size / cropFraction);
    const margin = Math.floor((scaled - size) / 2);
    const pixels = await sharp(bytes)
      .resize(scaled, scaled, { fit: 'cover', kernel })
      .extract({ left: margin, top: margin, width: size, height: size })
      .removeAlpha()
      .raw()
      .toBuffer();
    const input = tf.tensor4d(Float32Array.from(pixels, (v) => min + (v / 255) * (max - min)), [1, size, size, 3]);
    const output = (outputName ? await this.model.executeAsync(input, outputName) : this.model.predict(input)) as tf.Tensor;
    const probsTensor = applySoftmax ? tf.softmax(output) : output;
    const probs = Array.from(await probsTensor.data());
    tf.dispose([input, output, probsTensor]);
    const best = probs.indexOf(Math.max(...probs));
    return { label: labels[best - labelOffset], classIndex: best - labelOffset, confidence: probs[best] };
  }

  dispose(): void {
    this.model.dispose();
  }
}
