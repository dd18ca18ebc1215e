import { OnnxGraphBuilder, type OnnxDtype } from './onnx-builder';
import { ConversionError, type TfConst, type TfNode } from './tf-graph';

/** TF's NHWC axes in ONNX's NCHW order, and back. */
export const NHWC_TO_NCHW = [0, 3, 1, 2];
export const NCHW_TO_NHWC = [0, 2, 3, 1];

/**
 * One TF tensor as the ONNX graph holds it. A 4-D activation is kept NCHW
 * (`nchw`: the ONNX tensor is the TF tensor transposed by [0, 3, 1, 2]) from
 * the first op that wants it so until an op needs TF's own order; everything
 * else is in TF's order. Integer tensors (shapes, indices) are int64 in ONNX.
 */
export interface Value {
  /** The ONNX tensor's name; undefined for a constant not yet written. */
  name?: string;
  dtype: OnnxDtype;
  rank: number;
  nchw: boolean;
  /** The values of a constant, kept for ops that fold them (weights, axes). */
  constant?: TfConst;
  /** A 1-D integer tensor's length, when known without running the graph (shape tensors). */
  length?: number;
  /** Short name for derived tensors. */
  base: string;
}

/** Transposes a dense 4-D array: out[idx permuted] = in[idx]; `perm` as ONNX Transpose's. */
export function transposeData(values: Float32Array | Int32Array, shape: number[], perm: number[]): { values: Float32Array; shape: number[] } {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(values.length);
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let rem = o;
    for (let d = outShape.length - 1; d >= 0; d--) {
      idx[d] = rem % outShape[d];
      rem = Math.floor(rem / outShape[d]);
    }
    let i = 0;
    for (let d = 0; d < perm.length; d++) i += idx[d] * inStrides[perm[d]];
    out[o] = values[i];
  }
  return { values: out, shape: outShape };
}

/** The conversion's state: the builder, every TF tensor converted so far, and the layout helpers. */
export class ConversionContext {
  readonly values = new Map<string, Value>();
  private readonly plainCache = new Map<Value, string>();
  private readonly nchwCache = new Map<Value, string>();

  constructor(readonly b: OnnxGraphBuilder) {}

  fail(node: TfNode, message: string): never {
    throw new ConversionError(`${node.op} node "${node.name}": ${message}`);
  }

  constantOf(node: TfNode, v: Value, what: string): TfConst {
    if (!v.constant) this.fail(node, `${what} must be a constant`);
    return v.constant;
  }

  /** A constant's ONNX initializer (written on first use). */
  private constName(v: Value): string {
    if (v.name) return v.name;
    const c = v.constant as TfConst;
    v.name = this.b.initializer(v.base, v.dtype, c.shape, c.values);
    return v.name;
  }

  /** The tensor in TF's own axis order. */
  plain(v: Value): string {
    if (!v.nchw) return this.constName(v);
    let name = this.plainCache.get(v);
    if (!name) {
      name = this.b.node('Transpose', [v.name as string], { perm: NCHW_TO_NHWC }, `${v.base}_nhwc`);
      this.plainCache.set(v, name);
    }
    return name;
  }

  /**
   * The tensor in NCHW order, for a 4-D operand or one that broadcasts against
   * a 4-D NCHW tensor (lower ranks are aligned to the right, as TF does).
   */
  nchw(v: Value): string {
    if (v.nchw) return v.name as string;
    if (v.rank === 0) return this.constName(v);
    if (v.rank > 4) throw new ConversionError(`tensor ${v.base} of rank ${v.rank} cannot broadcast against a 4-D activation`);
    let name = this.nchwCache.get(v);
    if (name) return name;
    if (v.constant) {
      const c = v.constant;
      const shape4 = [...new Array<number>(4 - c.shape.length).fill(1), ...c.shape];
      const t = transposeData(c.values, shape4, NHWC_TO_NCHW);
      name = this.b.initializer(`${v.base}_nchw`, v.dtype, t.shape, v.dtype === 'int64' ? Array.from(t.values) : t.values);
    } else {
      let src = this.plain(v);
      if (v.rank < 4) {
        const axes = Array.from({ length: 4 - v.rank }, (_, i) => i);
        src = this.b.node('Unsqueeze', [src, this.b.constant('int64', [axes.length], axes)], {}, `${v.base}_rank4`);
      }
      name = this.b.node('Transpose', [src], { perm: NHWC_TO_NCHW }, `${v.base}_nchw`);
    }
    this.nchwCache.set(v, name);
    return name;
  }
}

/** A TF dtype attribute as the ONNX dtype the converter uses for it. */
export function onnxDtype(tfType: string | undefined, node: TfNode): OnnxDtype {
  if (tfType === undefined || tfType === 'DT_FLOAT') return 'float32';
  if (tfType === 'DT_INT32' || tfType === 'DT_INT64') return 'int64';
  throw new ConversionError(`${node.op} node "${node.name}": dtype ${tfType} is not supported (float32 and int32 are)`);
}
