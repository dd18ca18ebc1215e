import { ConversionContext, onnxDtype, type Value } from './context';
import { OnnxGraphBuilder } from './onnx-builder';
import { broadcastTo, elementwise, mean, pack, reshape, shapeOf, softmax, squeeze, stridedSlice, unary } from './ops-basic';
import { convolution, matMul } from './ops-nn';
import { ConversionError, parseInput, readWeights, type TfGraphModelJson, type TfNode } from './tf-graph';

type OpConverter = (ctx: ConversionContext, node: TfNode, inputs: Value[]) => Value;

/** Every TF op the converter knows: the default model's, and the plain forms older converted graphs use. */
const OPS: Record<string, OpConverter> = {
  _FusedConv2D: (c, n, i) => convolution(c, n, i, false),
  Conv2D: (c, n, i) => convolution(c, n, i, false),
  FusedDepthwiseConv2dNative: (c, n, i) => convolution(c, n, i, true),
  DepthwiseConv2dNative: (c, n, i) => convolution(c, n, i, true),
  _FusedMatMul: matMul,
  MatMul: matMul,
  Sigmoid: (c, n, i) => unary(c, n, i, 'Sigmoid'),
  Relu: (c, n, i) => unary(c, n, i, 'Relu'),
  Relu6: (c, n, i) => unary(c, n, i, 'Relu6'),
  BiasAdd: elementwise,
  Squeeze: squeeze,
  Mul: elementwise,
  AddV2: elementwise,
  Add: elementwise,
  Sub: elementwise,
  RealDiv: elementwise,
  Mean: mean,
  Softmax: softmax,
  Reshape: reshape,
  StridedSlice: stridedSlice,
  Pack: pack,
  Shape: shapeOf,
  BroadcastTo: broadcastTo,
};

export const SUPPORTED_OPS = Object.keys(OPS).sort();

export interface ConvertOptions {
  /** Written into the model (producer_version): a change of converter shows in the bytes. */
  producerVersion?: string;
}

export const PRODUCER = 'onnx-convert';
export const PRODUCER_VERSION = '1';

const dims = (shape: { dim?: { size: string | number }[] } | undefined) => (shape?.dim ?? []).map((d) => Number(d.size));

/**
 * Converts a TF.js graph model (model.json and its weight bytes, joined in
 * manifest order) into an ONNX model (opset 13). Inputs and outputs keep their
 * TF names, so a model's metadata.json (inputName, outputName) fits both.
 * The input stays NHWC, as the TF.js model takes it: the graph transposes it
 * once and runs NCHW inside. Only nodes the outputs depend on are converted;
 * an op outside the supported set is a ConversionError naming it.
 * The same input gives the same bytes.
 */
export function convertGraphModel(json: TfGraphModelJson, weightData: Uint8Array, options: ConvertOptions = {}): Uint8Array {
  const weights = readWeights(json, weightData);
  const nodes = new Map(json.modelTopology.node.map((n) => [n.name, n]));
  const outputNames = graphOutputs(json);
  const order = topologicalOrder(nodes, outputNames);
  const b = new OnnxGraphBuilder();
  const ctx = new ConversionContext(b);
  for (const node of order) if (node.op === 'Placeholder') b.claim(node.name);
  for (const name of outputNames) b.claim(name);

  for (const node of order) {
    const inputs = (node.input ?? [])
      .map(parseInput)
      .filter((r) => !r.control)
      .map((r) => {
        if (r.output !== 0) throw new ConversionError(`${node.op} node "${node.name}": output ${r.output} of "${r.node}" is not supported`);
        const v = ctx.values.get(r.node);
        if (!v) throw new ConversionError(`${node.op} node "${node.name}": input "${r.node}" is not in the graph`);
        return v;
      });
    ctx.values.set(node.name, convertNode(ctx, node, inputs, weights));
  }

  for (const name of outputNames) {
    const v = ctx.values.get(name) as Value;
    b.node('Identity', [ctx.plain(v)], {}, name, name);
    const signature = Object.values(json.signature?.outputs ?? {}).find((o) => parseInput(o.name).node === name) as
      | { name: string; tensorShape?: { dim?: { size: string | number }[] } }
      | undefined;
    const shape = signature?.tensorShape ? dims(signature.tensorShape) : Array.from({ length: v.rank }, () => -1);
    b.output({ name, dtype: v.dtype, dims: shape.map((d, i) => (d >= 0 ? d : `${name}_dim${i}`)) });
  }
  return b.encode('tfjs-graph-model', { name: PRODUCER, version: options.producerVersion ?? PRODUCER_VERSION }, 'converted from a TF.js graph model');
}

function convertNode(ctx: ConversionContext, node: TfNode, inputs: Value[], weights: ReturnType<typeof readWeights>): Value {
  switch (node.op) {
    case 'Placeholder': {
      const dtype = onnxDtype(node.attr?.['dtype']?.type, node);
      const shape = dims(node.attr?.['shape']?.shape);
      if (node.attr?.['shape']?.shape?.unknownRank || shape.length === 0) ctx.fail(node, 'an input of unknown rank is not supported');
      const names = ['batch', 'height', 'width'];
      const name = ctx.b.input({ name: node.name, dtype, dims: shape.map((d, i) => (d >= 0 ? d : `${node.name}_${names[i] ?? `dim${i}`}`)) });
      return { name, dtype, rank: shape.length, nchw: false, base: node.name };
    }
    case 'Const': {
      const constant = weights.get(node.name);
      if (!constant) ctx.fail(node, 'its value is not in the weights manifest');
      const dtype = onnxDtype(node.attr?.['dtype']?.type, node);
      return { dtype, rank: constant.shape.length, nchw: false, constant, base: node.name };
    }
    case 'Identity':
    case 'StopGradient':
      return inputs[0];
  }
  const convert = OPS[node.op];
  if (!convert) {
    throw new ConversionError(`${node.op} node "${node.name}": op ${node.op} is not supported (supported: ${SUPPORTED_OPS.join(', ')})`);
  }
  return convert(ctx, node, inputs);
}

/** The graph's outputs: its signature's, else the nodes no other node reads. */
function graphOutputs(json: TfGraphModelJson): string[] {
  const fromSignature = Object.values(json.signature?.outputs ?? {}).map((o) => parseInput(o.name).node);
  if (fromSignature.length) return fromSignature.sort();
  const read = new Set(json.modelTopology.node.flatMap((n) => (n.input ?? []).map((i) => parseInput(i).node)));
  return json.modelTopology.node.filter((n) => !read.has(n.name) && n.op !== 'Const').map((n) => n.name);
}

/** Nodes the outputs depend on, each after its inputs (depth first, in input order: deterministic). */
function topologicalOrder(nodes: Map<string, TfNode>, outputs: string[]): TfNode[] {
  const order: TfNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string) => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') throw new ConversionError(`the graph has a cycle through "${name}"`);
    const node = nodes.get(name);
    if (!node) throw new ConversionError(`node "${name}" is referenced but not defined`);
    state.set(name, 'visiting');
    // An explicit stack would avoid deep recursion; graph depth here is a few hundred nodes.
    for (const input of node.input ?? []) {
      const ref = parseInput(input);
      if (!ref.control) visit(ref.node);
    }
    state.set(name, 'done');
    order.push(node);
  };
  for (const name of outputs) visit(name);
  return order;
}
