import { NCHW_TO_NHWC, NHWC_TO_NCHW, type ConversionContext, type Value } from './context';
import { attrBool, attrInt, attrInts, type TfNode } from './tf-graph';

// BiasAdd is an Add whose bias broadcasts over the last (channel) axis, as TF's broadcasting does.
const ELEMENTWISE: Record<string, string> = { Mul: 'Mul', AddV2: 'Add', Add: 'Add', BiasAdd: 'Add', Sub: 'Sub', RealDiv: 'Div' };

/** Binary arithmetic with TF's broadcasting; stays NCHW when either operand is. */
export function elementwise(ctx: ConversionContext, node: TfNode, [a, b]: Value[]): Value {
  const op = ELEMENTWISE[node.op];
  const rank = Math.max(a.rank, b.rank);
  const dtype = a.dtype;
  if (a.nchw || b.nchw) {
    if (rank !== 4) ctx.fail(node, 'an NCHW operand must be 4-D');
    return { name: ctx.b.node(op, [ctx.nchw(a), ctx.nchw(b)], {}, node.name), dtype, rank, nchw: true, base: node.name };
  }
  return { name: ctx.b.node(op, [ctx.plain(a), ctx.plain(b)], {}, node.name), dtype, rank, nchw: false, base: node.name };
}

/** Element-wise functions of one tensor: keep the operand's layout. */
export function unary(ctx: ConversionContext, node: TfNode, [x]: Value[], op: string): Value {
  const input = x.nchw ? (x.name as string) : ctx.plain(x);
  const b = ctx.b;
  const name = op === 'Relu6' ? b.node('Clip', [input, b.constant('float32', [], [0]), b.constant('float32', [], [6])], {}, node.name) : b.node(op, [input], {}, node.name);
  return { ...x, name, constant: undefined, base: node.name };
}

/** Squeeze (TF's squeeze_dims; all size-1 axes is not supported: their number is not known before running). */
export function squeeze(ctx: ConversionContext, node: TfNode, [x]: Value[]): Value {
  const dims = attrInts(node.attr?.['squeeze_dims']).map((a) => (a < 0 ? a + x.rank : a));
  if (dims.length === 0) ctx.fail(node, 'squeezing every size-1 axis (no squeeze_dims) is not supported');
  const name = ctx.b.node('Squeeze', [ctx.plain(x), ctx.b.constant('int64', [dims.length], dims)], {}, node.name);
  return { name, dtype: x.dtype, rank: x.rank - dims.length, nchw: false, base: node.name };
}

function normaliseAxes(ctx: ConversionContext, node: TfNode, axesValue: Value, rank: number): number[] {
  const axes = Array.from(ctx.constantOf(node, axesValue, 'the axes').values, (a) => (a < 0 ? a + rank : a));
  if (axes.some((a) => a < 0 || a >= rank)) ctx.fail(node, `axes ${axes.join(',')} are out of range for rank ${rank}`);
  return [...new Set(axes)].sort((p, q) => p - q);
}

/** Mean over constant axes (ReduceMean, axes as an attribute in opset 13). */
export function mean(ctx: ConversionContext, node: TfNode, [x, axesValue]: Value[]): Value {
  const keep = attrBool(node.attr?.['keep_dims']);
  const tfAxes = normaliseAxes(ctx, node, axesValue, x.rank);
  const b = ctx.b;
  if (!x.nchw) {
    const name = b.node('ReduceMean', [ctx.plain(x)], { axes: tfAxes, keepdims: keep ? 1 : 0 }, node.name);
    return { name, dtype: x.dtype, rank: keep ? x.rank : x.rank - tfAxes.length, nchw: false, base: node.name };
  }
  // ONNX axis j of an NCHW tensor is TF axis NHWC_TO_NCHW[j].
  const onnxAxes = tfAxes.map((a) => NHWC_TO_NCHW.indexOf(a)).sort((p, q) => p - q);
  const reduced = b.node('ReduceMean', [x.name as string], { axes: onnxAxes, keepdims: keep ? 1 : 0 }, node.name);
  if (keep) return { name: reduced, dtype: x.dtype, rank: 4, nchw: true, base: node.name };
  // The remaining axes, in ONNX's order, must come out in TF's order.
  const remainingOnnx = [0, 1, 2, 3].filter((d) => !onnxAxes.includes(d)).map((d) => NHWC_TO_NCHW[d]);
  const tfOrder = [...remainingOnnx].sort((p, q) => p - q);
  const perm = tfOrder.map((a) => remainingOnnx.indexOf(a));
  const name = perm.every((p, i) => p === i) ? reduced : b.node('Transpose', [reduced], { perm }, `${node.name}_tf_order`);
  return { name, dtype: x.dtype, rank: 4 - onnxAxes.length, nchw: false, base: node.name };
}

export function softmax(ctx: ConversionContext, node: TfNode, [x]: Value[]): Value {
  return { name: ctx.b.node('Softmax', [ctx.plain(x)], { axis: -1 }, node.name), dtype: x.dtype, rank: x.rank, nchw: false, base: node.name };
}

/** Length of a 1-D shape tensor, known without running the graph. */
function shapeLength(ctx: ConversionContext, node: TfNode, shape: Value): number {
  const length = shape.constant ? shape.constant.values.length : shape.length;
  if (length === undefined) ctx.fail(node, 'the length of the shape input cannot be told before running the graph');
  return length;
}

export function reshape(ctx: ConversionContext, node: TfNode, [x, shape]: Value[]): Value {
  const rank = shapeLength(ctx, node, shape);
  const name = ctx.b.node('Reshape', [ctx.plain(x), ctx.plain(shape)], {}, node.name);
  return { name, dtype: x.dtype, rank, nchw: false, base: node.name };
}

/** TF's shape order, whatever the ONNX layout. */
export function shapeOf(ctx: ConversionContext, node: TfNode, [x]: Value[]): Value {
  const b = ctx.b;
  let name: string;
  if (x.nchw) {
    const shape = b.node('Shape', [x.name as string], {}, `${node.name}_nchw`);
    name = b.node('Gather', [shape, b.constant('int64', [4], NCHW_TO_NHWC)], { axis: 0 }, node.name);
  } else name = b.node('Shape', [ctx.plain(x)], {}, node.name);
  return { name, dtype: 'int64', rank: 1, nchw: false, length: x.rank, base: node.name };
}

export function broadcastTo(ctx: ConversionContext, node: TfNode, [x, shape]: Value[]): Value {
  const rank = shapeLength(ctx, node, shape);
  const name = ctx.b.node('Expand', [ctx.plain(x), ctx.plain(shape)], {}, node.name);
  return { name, dtype: x.dtype, rank, nchw: false, base: node.name };
}

/** Pack (tf.stack): each input gains the new axis, then they are joined along it. */
export function pack(ctx: ConversionContext, node: TfNode, inputs: Value[]): Value {
  const rank = inputs[0].rank + 1;
  let axis = attrInt(node.attr?.['axis'], 0);
  if (axis < 0) axis += rank;
  const b = ctx.b;
  const axes = b.constant('int64', [1], [axis]);
  const parts = inputs.map((v) => b.node('Unsqueeze', [ctx.plain(v), axes], {}, `${node.name}_part`));
  const name = b.node('Concat', parts, { axis }, node.name);
  return { name, dtype: inputs[0].dtype, rank, nchw: false, length: rank === 1 ? inputs.length : undefined, base: node.name };
}

const INT64_MAX = Number.MAX_SAFE_INTEGER;

/** StridedSlice with constant begin/end/strides; begin, end and shrink-axis masks (no ellipsis or new axes). */
export function stridedSlice(ctx: ConversionContext, node: TfNode, [x, beginV, endV, stridesV]: Value[]): Value {
  for (const mask of ['ellipsis_mask', 'new_axis_mask']) {
    if (attrInt(node.attr?.[mask], 0) !== 0) ctx.fail(node, `${mask} is not supported`);
  }
  const begin = Array.from(ctx.constantOf(node, beginV, 'begin').values);
  const end = Array.from(ctx.constantOf(node, endV, 'end').values);
  const strides = Array.from(ctx.constantOf(node, stridesV, 'strides').values);
  const beginMask = attrInt(node.attr?.['begin_mask'], 0);
  const endMask = attrInt(node.attr?.['end_mask'], 0);
  const shrinkMask = attrInt(node.attr?.['shrink_axis_mask'], 0);
  const starts: number[] = [];
  const ends: number[] = [];
  const shrink: number[] = [];
  for (let i = 0; i < begin.length; i++) {
    const step = strides[i];
    if (step === 0) ctx.fail(node, 'a stride of 0');
    const bit = 1 << i;
    if (shrinkMask & bit) {
      // One element: [begin, begin + 1), where begin -1 means the last one.
      starts.push(begin[i]);
      ends.push(begin[i] === -1 ? INT64_MAX : begin[i] + 1);
      shrink.push(i);
      continue;
    }
    starts.push(beginMask & bit ? (step > 0 ? 0 : -1) : begin[i]);
    ends.push(endMask & bit ? (step > 0 ? INT64_MAX : -INT64_MAX) : end[i]);
  }
  if (shrink.some((i) => strides[i] !== 1)) ctx.fail(node, 'shrinking an axis with a stride other than 1');
  const b = ctx.b;
  const axes = starts.map((_, i) => i);
  const n = starts.length;
  let name = b.node(
    'Slice',
    [ctx.plain(x), b.constant('int64', [n], starts), b.constant('int64', [n], ends), b.constant('int64', [n], axes), b.constant('int64', [n], strides)],
    {},
    shrink.length ? `${node.name}_slice` : node.name,
  );
  if (shrink.length) name = b.node('Squeeze', [name, b.constant('int64', [shrink.length], shrink)], {}, node.name);
  return { name, dtype: x.dtype, rank: x.rank - shrink.length, nchw: false, base: node.name };
}
