import { onnx } from 'onnx-proto';

/** ONNX opset the converter writes (every op it emits has this version's signature). */
export const OPSET = 13;
/** IR version 7 goes with opset 13. */
export const IR_VERSION = 7;

export type OnnxDtype = 'float32' | 'int64';
const ELEM_TYPE: Record<OnnxDtype, number> = { float32: onnx.TensorProto.DataType.FLOAT, int64: onnx.TensorProto.DataType.INT64 };

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

function attribute(name: string, value: AttrValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: Buffer.from(value, 'utf8') };
  if (typeof value === 'number') return { name, type: T.INT, i: value };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  return { name, type: T.FLOATS, floats: value.floats };
}

function littleEndianBytes(dtype: OnnxDtype, values: ArrayLike<number>): Uint8Array {
  if (dtype === 'float32') {
    const buf = Buffer.alloc(values.length * 4);
    for (let i = 0; i < values.length; i++) buf.writeFloatLE(values[i], i * 4);
    return buf;
  }
  const buf = Buffer.alloc(values.length * 8);
  for (let i = 0; i < values.length; i++) buf.writeBigInt64LE(BigInt(values[i]), i * 8);
  return buf;
}

export interface ValueInfo {
  name: string;
  dtype: OnnxDtype;
  /** A number for a fixed size, a string for a named free dimension. */
  dims: (number | string)[];
}

/**
 * Collects nodes, initializers, inputs and outputs of one ONNX graph and
 * encodes the model. Names are made unique by a counter, in the order of the
 * calls, so the same conversion always gives the same bytes.
 */
export class OnnxGraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  /** Names kept for the graph's inputs and outputs: no derived name may take them. */
  private readonly claimed = new Set<string>();
  private readonly constCache = new Map<string, string>();

  /** A name nothing else in the graph has, derived from `base`. */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Keeps `name` for a graph input or output that is written later. */
  claim(name: string): void {
    if (this.used.has(name)) throw new Error(`duplicate tensor name ${name}`);
    this.used.add(name);
    this.claimed.add(name);
  }

  /** Takes an exact name (graph inputs and outputs keep the TF names): one claimed before, or a free one. */
  reserve(name: string): string {
    if (this.claimed.delete(name)) return name;
    if (this.used.has(name)) throw new Error(`duplicate tensor name ${name}`);
    this.used.add(name);
    return name;
  }

  initializer(base: string, dtype: OnnxDtype, dims: number[], values: ArrayLike<number>): string {
    const name = this.uniqueName(base);
    this.initializers.push({ name, dataType: ELEM_TYPE[dtype], dims, rawData: littleEndianBytes(dtype, values) });
    return name;
  }

  /** A small constant (axes, shapes, indices), shared by every node that needs the same one. */
  constant(dtype: OnnxDtype, dims: number[], values: number[]): string {
    const key = `${dtype}:${dims.join(',')}:${values.join(',')}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.initializer(`const_${dtype}_${this.constCache.size}`, dtype, dims, values);
      this.constCache.set(key, name);
    }
    return name;
  }

  /** Adds a node with one output, named from `outputBase` unless `exactOutput` is given; returns the output's name. */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputBase = opType, exactOutput?: string): string {
    const output = exactOutput ? this.reserve(exactOutput) : this.uniqueName(outputBase);
    const attribute_ = Object.entries(attrs).map(([k, v]) => attribute(k, v));
    this.nodes.push({ opType, input: inputs, output: [output], name: output, attribute: attribute_ });
    return output;
  }

  input(info: ValueInfo): string {
    this.inputs.push(valueInfo(info));
    return this.reserve(info.name);
  }

  output(info: ValueInfo): void {
    this.outputs.push(valueInfo(info));
  }

  encode(graphName: string, producer: { name: string; version: string }, docString: string): Uint8Array {
    const model: onnx.IModelProto = {
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: producer.name,
      producerVersion: producer.version,
      docString,
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}

function valueInfo(info: ValueInfo): onnx.IValueInfoProto {
  return {
    name: info.name,
    type: {
      tensorType: {
        elemType: ELEM_TYPE[info.dtype],
        shape: { dim: info.dims.map((d) => (typeof d === 'number' && d >= 0 ? { dimValue: d } : { dimParam: String(d) })) },
      },
    },
  };
}
