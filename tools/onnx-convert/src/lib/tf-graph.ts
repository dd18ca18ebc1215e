import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The parts of a TF.js graph model's model.json the converter reads. */
export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

export interface TfAttr {
  b?: boolean;
  i?: string | number;
  f?: number;
  s?: string;
  type?: string;
  list?: { i?: (string | number)[]; s?: string[]; f?: number[] };
  shape?: { dim?: { size: string | number }[]; unknownRank?: boolean };
  tensor?: { dtype?: string; tensorShape?: { dim?: { size: string | number }[] } };
}

export interface TfWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

export interface TfGraphModelJson {
  format?: string;
  modelTopology: { node: TfNode[] };
  weightsManifest: { paths: string[]; weights: TfWeightSpec[] }[];
  signature?: {
    inputs?: Record<string, { name: string }>;
    outputs?: Record<string, { name: string }>;
  };
}

/** A constant of the graph: float32 or int32 values with their shape. */
export interface TfConst {
  dtype: 'float32' | 'int32';
  shape: number[];
  values: Float32Array | Int32Array;
}

export class ConversionError extends Error {
  override readonly name = 'ConversionError';
}

/** The graph's constants, read from the weight data in manifest order. */
export function readWeights(json: TfGraphModelJson, data: Uint8Array): Map<string, TfConst> {
  const out = new Map<string, TfConst>();
  let offset = 0;
  for (const spec of json.weightsManifest.flatMap((g) => g.weights)) {
    if (spec.quantization) throw new ConversionError(`weight ${spec.name}: quantized weights are not supported`);
    if (spec.dtype !== 'float32' && spec.dtype !== 'int32') {
      throw new ConversionError(`weight ${spec.name}: dtype ${spec.dtype} is not supported (float32 and int32 are)`);
    }
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = count * 4;
    if (offset + bytes > data.byteLength) throw new ConversionError(`weight ${spec.name}: the weight data ends early`);
    // Copied into a fresh, aligned buffer: shards joined in memory are not 4-byte aligned.
    const slice = data.slice(offset, offset + bytes);
    const values = spec.dtype === 'float32' ? new Float32Array(slice.buffer, slice.byteOffset, count) : new Int32Array(slice.buffer, slice.byteOffset, count);
    out.set(spec.name, { dtype: spec.dtype, shape: [...spec.shape], values });
    offset += bytes;
  }
  if (offset !== data.byteLength) throw new ConversionError(`the weight data has ${data.byteLength - offset} bytes more than the manifest describes`);
  return out;
}

/** model.json and its weight files (joined in manifest order) from a model folder. */
export function readGraphModelFolder(modelJsonPath: string): { json: TfGraphModelJson; weights: Uint8Array } {
  const json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as TfGraphModelJson;
  if (!Array.isArray(json.modelTopology?.node)) {
    throw new ConversionError(`${modelJsonPath} is not a TF.js graph model (layers models are not supported)`);
  }
  const dir = dirname(modelJsonPath);
  const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p))));
  return { json, weights: new Uint8Array(Buffer.concat(buffers)) };
}

/** `name`, `name:0` and `^name` (a control input) as the producing node's name and output index. */
export function parseInput(ref: string): { node: string; output: number; control: boolean } {
  if (ref.startsWith('^')) return { node: ref.slice(1), output: 0, control: true };
  const m = /^(.*):(\d+)$/.exec(ref);
  return m ? { node: m[1], output: Number(m[2]), control: false } : { node: ref, output: 0, control: false };
}

export const attrString = (a: TfAttr | undefined): string | undefined => (a?.s === undefined ? undefined : Buffer.from(a.s, 'base64').toString('utf8'));
export const attrStrings = (a: TfAttr | undefined): string[] => (a?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));
export const attrInts = (a: TfAttr | undefined): number[] => (a?.list?.i ?? []).map(Number);
export const attrInt = (a: TfAttr | undefined, fallback: number): number => (a?.i === undefined ? fallback : Number(a.i));
export const attrBool = (a: TfAttr | undefined, fallback = false): boolean => a?.b ?? fallback;
export const attrFloat = (a: TfAttr | undefined, fallback: number): number => a?.f ?? fallback;
