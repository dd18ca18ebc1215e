import { transposeData, type ConversionContext, type Value } from './context';
import { attrBool, attrFloat, attrInts, attrString, attrStrings, type TfNode } from './tf-graph';

/**
 * What follows the matrix product or convolution in a TF.js fused op:
 * `fused_ops` is [BiasAdd | PReLU?, activation?] with `num_args` extra inputs
 * (the bias, then PReLU's slopes).
 */
function fusedTail(ctx: ConversionContext, node: TfNode, args: Value[]): { bias?: Value; activation?: string; slope?: Value } {
  const ops = attrStrings(node.attr?.['fused_ops']).map((s) => s.toLowerCase());
  const out: { bias?: Value; activation?: string; slope?: Value } = {};
  let next = 0;
  for (const [i, op] of ops.entries()) {
    if (op === 'biasadd' && i === 0) out.bias = args[next++];
    else if (op === 'prelu') {
      out.activation = 'prelu';
      out.slope = args[next++];
    } else if (['relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid', 'tanh'].includes(op) && i === ops.length - 1) out.activation = op;
    else ctx.fail(node, `fused op ${ops[i]} is not supported (BiasAdd, PReLU, Relu, Relu6, Elu, LeakyRelu, Sigmoid, Tanh are)`);
    if (next > args.length) ctx.fail(node, `fused_ops ${ops.join(',')} need more inputs than the node has`);
  }
  return out;
}

/** Applies a fused activation to `x` (layout `nchw` tells how a PReLU slope must be aligned). */
function activate(ctx: ConversionContext, node: TfNode, x: string, tail: ReturnType<typeof fusedTail>, nchw: boolean): string {
  const b = ctx.b;
  switch (tail.activation) {
    case undefined:
      return x;
    case 'relu':
      return b.node('Relu', [x], {}, 'relu');
    case 'relu6':
      return b.node('Clip', [x, b.constant('float32', [], [0]), b.constant('float32', [], [6])], {}, 'relu6');
    case 'elu':
      return b.node('Elu', [x], { alpha: { float: 1 } }, 'elu');
    case 'leakyrelu':
      return b.node('LeakyRelu', [x], { alpha: { float: attrFloat(node.attr?.['leakyrelu_alpha'], 0.2) } }, 'leaky_relu');
    case 'sigmoid':
      return b.node('Sigmoid', [x], {}, 'sigmoid');
    case 'tanh':
      return b.node('Tanh', [x], {}, 'tanh');
    case 'prelu': {
      const slope = tail.slope as Value;
      return b.node('PRelu', [x, nchw ? ctx.nchw(slope) : ctx.plain(slope)], {}, 'prelu');
    }
    default:
      return ctx.fail(node, `activation ${tail.activation} is not supported`);
  }
}

/** strides / dilations of an NHWC op as ONNX's [h, w]; padding as auto_pad or explicit pads. */
function spatialAttrs(ctx: ConversionContext, node: TfNode): Record<string, number[] | string> {
  const format = attrString(node.attr?.['data_format']) ?? 'NHWC';
  if (format !== 'NHWC') ctx.fail(node, `data_format ${format} is not supported (NHWC is)`);
  const strides = attrInts(node.attr?.['strides']);
  const dilations = attrInts(node.attr?.['dilations']);
  const out: Record<string, number[] | string> = {
    strides: strides.length === 4 ? [strides[1], strides[2]] : [1, 1],
    dilations: dilations.length === 4 ? [dilations[1], dilations[2]] : [1, 1],
  };
  const padding = attrString(node.attr?.['padding']) ?? 'VALID';
  // TF's SAME puts the odd pixel at the end, as ONNX's SAME_UPPER does.
  if (padding === 'SAME') out['auto_pad'] = 'SAME_UPPER';
  else if (padding === 'VALID') out['pads'] = [0, 0, 0, 0];
  else if (padding === 'EXPLICIT') {
    // [n_before, n_after, h_before, h_after, w_before, w_after, c_before, c_after]
    const p = attrInts(node.attr?.['explicit_paddings']);
    if (p.length !== 8) ctx.fail(node, 'EXPLICIT padding needs 8 explicit_paddings');
    out['pads'] = [p[2], p[4], p[3], p[5]];
  } else ctx.fail(node, `padding ${padding} is not supported`);
  return out;
}

/** _FusedConv2D and FusedDepthwiseConv2dNative (and their unfused forms) as one ONNX Conv + activation. */
export function convolution(ctx: ConversionContext, node: TfNode, inputs: Value[], depthwise: boolean): Value {
  const [x, filterValue, ...args] = inputs;
  const filter = ctx.constantOf(node, filterValue, 'the filter');
  if (filter.shape.length !== 4) ctx.fail(node, `the filter must be 4-D (got ${filter.shape.length}-D)`);
  const [kh, kw, cin, cout] = filter.shape;
  let weights: { values: Float32Array; shape: number[] };
  let group = 1;
  if (depthwise) {
    // TF [kh, kw, in, multiplier] -> ONNX [in * multiplier, 1, kh, kw], one group per input channel.
    const t = transposeData(filter.values, filter.shape, [2, 3, 0, 1]);
    weights = { values: t.values, shape: [cin * cout, 1, kh, kw] };
    group = cin;
  } else {
    // TF [kh, kw, in, out] -> ONNX [out, in, kh, kw].
    weights = transposeData(filter.values, filter.shape, [3, 2, 0, 1]);
  }
  const tail = fusedTail(ctx, node, args);
  const b = ctx.b;
  const w = b.initializer(`${node.name}/weights`, 'float32', weights.shape, weights.values);
  const convInputs = [ctx.nchw(x), w];
  if (tail.bias) {
    const bias = ctx.constantOf(node, tail.bias, 'the bias');
    convInputs.push(b.initializer(`${node.name}/bias`, 'float32', [bias.values.length], bias.values));
  }
  const attrs = { ...spatialAttrs(ctx, node), kernel_shape: [kh, kw], group };
  const conv = b.node('Conv', convInputs, attrs, node.name);
  return { name: activate(ctx, node, conv, tail, true), dtype: 'float32', rank: 4, nchw: true, base: node.name };
}

/** _FusedMatMul (and MatMul) as ONNX Gemm + activation. */
export function matMul(ctx: ConversionContext, node: TfNode, inputs: Value[]): Value {
  const [a, bValue, ...args] = inputs;
  if (a.rank !== 2 || bValue.rank !== 2) ctx.fail(node, 'only 2-D matrices are supported');
  const tail = fusedTail(ctx, node, args);
  const gemmInputs = [ctx.plain(a), ctx.plain(bValue)];
  if (tail.bias) gemmInputs.push(ctx.plain(tail.bias));
  const attrs = { transA: attrBool(node.attr?.['transpose_a']) ? 1 : 0, transB: attrBool(node.attr?.['transpose_b']) ? 1 : 0 };
  const gemm = ctx.b.node('Gemm', gemmInputs, attrs, node.name);
  return { name: activate(ctx, node, gemm, tail, false), dtype: 'float32', rank: 2, nchw: false, base: node.name };
}
