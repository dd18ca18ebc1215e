import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { convertGraphModel } from '../lib/convert';
import type { TfAttr, TfGraphModelJson, TfNode, TfWeightSpec } from '../lib/tf-graph';

/**
 * Small TF.js graph models written by hand, run both ways: by TF.js itself
 * (the reference: its own kernels for the TF ops) and, converted, by ONNX
 * Runtime. Tests compare the two outputs.
 */
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

export const attr = {
  s: (s: string): TfAttr => ({ s: b64(s) }),
  ints: (xs: number[]): TfAttr => ({ list: { i: xs.map(String) } }),
  strings: (xs: string[]): TfAttr => ({ list: { s: xs.map(b64) } }),
  i: (x: number): TfAttr => ({ i: String(x) }),
  b: (x: boolean): TfAttr => ({ b: x }),
  f: (x: number): TfAttr => ({ f: x }),
  float: (): TfAttr => ({ type: 'DT_FLOAT' }),
  int: (): TfAttr => ({ type: 'DT_INT32' }),
};

/** Loads TF.js's reference (cpu) backend and ONNX Runtime's binding, once, before the first comparison. */
export async function warmUp(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
  const g = new TinyGraph();
  g.op('y', 'Sigmoid', [g.input('x', [1])]);
  await g.runOnnx({ x: { data: new Float32Array(1), shape: [1] } }, 'y');
}

/** Deterministic values in [-1, 1). */
export function seeded(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export class TinyGraph {
  readonly nodes: TfNode[] = [];
  private readonly specs: TfWeightSpec[] = [];
  private readonly data: Buffer[] = [];
  private seed = 1;

  input(name: string, shape: number[]): string {
    this.nodes.push({
      name,
      op: 'Placeholder',
      attr: { dtype: attr.float(), shape: { shape: { dim: shape.map((d) => ({ size: String(d) })) } } },
    });
    return name;
  }

  /** A float32 constant (random values unless given). */
  floats(name: string, shape: number[], values?: number[]): string {
    const count = shape.reduce((a, b) => a * b, 1);
    const v = values ? Float32Array.from(values) : seeded(count, this.seed++);
    return this.constant(name, shape, 'float32', Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  }

  ints(name: string, shape: number[], values: number[]): string {
    const v = Int32Array.from(values);
    return this.constant(name, shape, 'int32', Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  }

  private constant(name: string, shape: number[], dtype: 'float32' | 'int32', bytes: Buffer): string {
    const type = dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32';
    this.nodes.push({
      name,
      op: 'Const',
      attr: { dtype: { type }, value: { tensor: { dtype: type, tensorShape: { dim: shape.map((d) => ({ size: String(d) })) } } } },
    });
    this.specs.push({ name, shape, dtype });
    this.data.push(bytes);
    return name;
  }

  op(name: string, op: string, input: string[], attrs: Record<string, TfAttr> = {}): string {
    this.nodes.push({ name, op, input, attr: { T: attr.float(), ...attrs } });
    return name;
  }

  json(): TfGraphModelJson {
    return { format: 'graph-model', modelTopology: { node: this.nodes }, weightsManifest: [{ paths: [], weights: this.specs }] };
  }

  weights(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.data));
  }

  convert(): Uint8Array {
    return convertGraphModel(this.json(), this.weights());
  }

  /** TF.js's answer for `output` (its cpu backend: the reference kernels). */
  async runTfjs(feeds: Record<string, { data: Float32Array; shape: number[] }>, output: string): Promise<Float32Array> {
    const w = this.weights();
    const model = await tf.loadGraphModel(
      tf.io.fromMemory({
        format: 'graph-model',
        modelTopology: { node: this.nodes, library: {}, versions: {} },
        weightSpecs: this.specs as tf.io.WeightsManifestEntry[],
        weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) as ArrayBuffer,
      }),
    );
    const inputs = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
    const out = model.execute(inputs, output) as tf.Tensor;
    const data = (await out.data()) as Float32Array;
    out.dispose();
    Object.values(inputs).forEach((t) => t.dispose());
    model.dispose();
    return Float32Array.from(data);
  }

  /** ONNX Runtime's answer for the converted graph, with its output's shape. */
  async runOnnx(feeds: Record<string, { data: Float32Array; shape: number[] }>, output: string): Promise<{ data: Float32Array; dims: readonly number[] }> {
    const session = await ort.InferenceSession.create(this.convert());
    try {
      const inputs = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.shape)]));
      const result = await session.run(inputs, [output]);
      return { data: Float32Array.from(result[output].data as Float32Array), dims: result[output].dims };
    } finally {
      await session.release();
    }
  }
}

/** Largest absolute difference between two arrays of the same length. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
