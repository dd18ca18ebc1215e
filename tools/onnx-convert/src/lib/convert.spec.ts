import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertModelFolder } from './convert-folder';
import { attr, maxAbsDiff, seeded, TinyGraph, warmUp } from '../testing/tiny-graph';
import { ConversionError } from './tf-graph';

/**
 * Each op's conversion on a tiny graph: TF.js runs the graph (its reference
 * kernels), ONNX Runtime runs the converted model, and the outputs must agree.
 * Activations are NCHW inside the ONNX graph, so each op is also tried after a
 * convolution (NCHW operand) and on its own (TF's order).
 */
const feed = (shape: number[], seed = 7) => ({ x: { data: seeded(shape.reduce((a, b) => a * b, 1), seed), shape } });

async function expectSame(g: TinyGraph, output: string, feeds = feed([2, 5, 6, 3]), tolerance = 1e-5): Promise<readonly number[]> {
  const want = await g.runTfjs(feeds, output);
  const got = await g.runOnnx(feeds, output);
  expect(got.data.length).toBe(want.length);
  expect(maxAbsDiff(got.data, want)).toBeLessThan(tolerance);
  return got.dims;
}

const conv = (g: TinyGraph, name: string, x: string, opts: { filter: number[]; strides?: number[]; padding?: string; fused?: string[]; dilations?: number[]; explicit?: number[]; depthwise?: boolean; extra?: Record<string, ReturnType<typeof attr.f>> }) => {
  const fused = opts.fused ?? ['BiasAdd'];
  const outChannels = opts.depthwise ? opts.filter[2] * opts.filter[3] : opts.filter[3];
  const inputs = [x, g.floats(`${name}/filter`, opts.filter)];
  if (fused[0] === 'BiasAdd') inputs.push(g.floats(`${name}/bias`, [outChannels]));
  if (fused.includes('Prelu')) inputs.push(g.floats(`${name}/alpha`, [outChannels]));
  return g.op(name, opts.depthwise ? 'FusedDepthwiseConv2dNative' : '_FusedConv2D', inputs, {
    strides: attr.ints(opts.strides ?? [1, 1, 1, 1]),
    dilations: attr.ints(opts.dilations ?? [1, 1, 1, 1]),
    padding: attr.s(opts.padding ?? 'SAME'),
    data_format: attr.s('NHWC'),
    fused_ops: attr.strings(fused),
    num_args: attr.i(inputs.length - 2),
    ...(opts.explicit && { explicit_paddings: attr.ints(opts.explicit) }),
    ...opts.extra,
  });
};

beforeAll(warmUp, 120_000);
// Each case takes milliseconds; the margin is for a loaded CI machine.
jest.setTimeout(30_000);

describe('converting TF.js graph ops to ONNX', () => {
  it.each([
    ['SAME, stride 2, BiasAdd + Relu', { filter: [3, 3, 3, 4], strides: [1, 2, 2, 1], fused: ['BiasAdd', 'Relu'] }],
    ['VALID, dilation 2, BiasAdd + Relu6', { filter: [2, 2, 3, 4], padding: 'VALID', dilations: [1, 2, 2, 1], fused: ['BiasAdd', 'Relu6'] }],
    ['EXPLICIT padding, BiasAdd', { filter: [3, 2, 3, 5], padding: 'EXPLICIT', explicit: [0, 0, 1, 2, 0, 1, 0, 0] }],
    ['BiasAdd + LeakyRelu', { filter: [1, 1, 3, 4], fused: ['BiasAdd', 'LeakyRelu'], extra: { leakyrelu_alpha: attr.f(0.3) } }],
    ['BiasAdd + Elu', { filter: [3, 3, 3, 2], fused: ['BiasAdd', 'Elu'] }],
    ['BiasAdd + Sigmoid', { filter: [3, 3, 3, 2], strides: [1, 2, 2, 1], fused: ['BiasAdd', 'Sigmoid'] }],
  ])('_FusedConv2D: %s', async (_label, opts) => {
    const g = new TinyGraph();
    conv(g, 'conv', g.input('x', [-1, -1, -1, 3]), opts);
    await expectSame(g, 'conv');
  });

  it.each([
    ['SAME, multiplier 2, BiasAdd + Relu', { filter: [3, 3, 3, 2], fused: ['BiasAdd', 'Relu'] }],
    ['VALID, stride 2, BiasAdd', { filter: [3, 3, 3, 1], strides: [1, 2, 2, 1], padding: 'VALID' }],
    ['SAME, stride 2 (odd padding at the end), BiasAdd', { filter: [5, 5, 3, 1], strides: [1, 2, 2, 1] }],
  ])('FusedDepthwiseConv2dNative: %s', async (_label, opts) => {
    const g = new TinyGraph();
    conv(g, 'dw', g.input('x', [-1, -1, -1, 3]), { ...opts, depthwise: true });
    await expectSame(g, 'dw');
  });

  it.each([
    ['BiasAdd', false, ['BiasAdd']],
    ['BiasAdd + Relu, transpose_b', true, ['BiasAdd', 'Relu']],
  ])('_FusedMatMul: %s, then Softmax', async (_label, transposeB, fused) => {
    const g = new TinyGraph();
    const x = g.input('x', [-1, 6]);
    const w = g.floats('w', transposeB ? [4, 6] : [6, 4]);
    const mm = g.op('mm', '_FusedMatMul', [x, w, g.floats('b', [4])], {
      transpose_a: attr.b(false),
      transpose_b: attr.b(transposeB as boolean),
      fused_ops: attr.strings(fused as string[]),
      num_args: attr.i(1),
    });
    g.op('probs', 'Softmax', [mm]);
    const dims = await expectSame(g, 'probs', feed([3, 6]));
    expect(dims).toEqual([3, 4]);
  });

  it('Mul, AddV2, Sub, RealDiv and Sigmoid on NCHW activations, broadcasting constants by channel and by scalar', async () => {
    const g = new TinyGraph();
    const c1 = conv(g, 'c1', g.input('x', [-1, -1, -1, 3]), { filter: [3, 3, 3, 4] });
    const c2 = conv(g, 'c2', c1, { filter: [1, 1, 4, 4] });
    const s = g.op('s', 'Sigmoid', [c2]);
    const m = g.op('m', 'Mul', [c1, s]);
    const byChannel = g.op('byChannel', 'Mul', [m, g.floats('scale', [4])]);
    const added = g.op('added', 'AddV2', [byChannel, c2]);
    const sub = g.op('sub', 'Sub', [g.floats('offset', [1, 1, 1, 4]), added]);
    g.op('div', 'RealDiv', [sub, g.floats('two', [], [2])]);
    await expectSame(g, 'div');
  });

  it('the same arithmetic on tensors in TF order (no convolution before)', async () => {
    const g = new TinyGraph();
    const x = g.input('x', [-1, -1, -1, 3]);
    const m = g.op('m', 'Mul', [g.floats('y', [], [255]), x]);
    const sub = g.op('sub', 'Sub', [m, g.floats('mean', [3], [120, 115, 100])]);
    g.op('div', 'RealDiv', [sub, g.floats('std', [3], [60, 58, 57])]);
    await expectSame(g, 'div', feed([2, 5, 6, 3]), 1e-4);
  });

  it.each([
    ['over H and W', [1, 2], false],
    ['over W only (axes come back in TF order)', [2], false],
    ['over C, negative axis', [-1], false],
    ['over H and W, keep_dims', [1, 2], true],
  ])('Mean of an NCHW activation %s', async (_label, axes, keep) => {
    const g = new TinyGraph();
    const c = conv(g, 'c', g.input('x', [-1, -1, -1, 3]), { filter: [3, 3, 3, 4] });
    g.op('mean', 'Mean', [c, g.ints('axes', [(axes as number[]).length], axes as number[])], { keep_dims: attr.b(keep as boolean), Tidx: attr.int() });
    await expectSame(g, 'mean');
  });

  it('the squeeze-and-excitation shape path: Shape, StridedSlice (shrink), Pack, Reshape; BroadcastTo a Shape', async () => {
    const g = new TinyGraph();
    const x = g.input('x', [-1, -1, -1, 3]);
    const c = conv(g, 'c', x, { filter: [3, 3, 3, 4] });
    const pooled = g.op('pool', 'Mean', [c, g.ints('hw', [2], [1, 2])], { keep_dims: attr.b(false), Tidx: attr.int() });
    const shape = g.op('shape', 'Shape', [pooled], { out_type: attr.int() });
    const zero = g.ints('zero', [1], [0]);
    const one = g.ints('one', [1], [1]);
    const batch = g.op('batch', 'StridedSlice', [shape, zero, one, one], {
      T: attr.int(),
      Index: attr.int(),
      begin_mask: attr.i(0),
      end_mask: attr.i(0),
      ellipsis_mask: attr.i(0),
      new_axis_mask: attr.i(0),
      shrink_axis_mask: attr.i(1),
    });
    const dim1 = g.ints('dim1', [], [1]);
    const packed = g.op('packed', 'Pack', [batch, dim1, dim1, g.ints('channels', [], [4])], { T: attr.int(), N: attr.i(4), axis: attr.i(0) });
    const se = g.op('se', 'Reshape', [pooled, packed], { Tshape: attr.int() });
    const gate = conv(g, 'gate', se, { filter: [1, 1, 4, 4], fused: ['BiasAdd', 'Sigmoid'] });
    const scaled = g.op('scaled', 'Mul', [c, gate]);
    const full = g.op('full', 'BroadcastTo', [g.floats('bias', [4]), g.op('shape4', 'Shape', [scaled], { out_type: attr.int() })], { Tidx: attr.int() });
    g.op('out', 'AddV2', [scaled, full]);
    const dims = await expectSame(g, 'out');
    expect(dims).toEqual([2, 5, 6, 4]);
  });

  it('StridedSlice of floats with begin/end masks, a stride of 2 and a negative begin', async () => {
    const g = new TinyGraph();
    const x = g.input('x', [-1, -1, -1, 3]);
    g.op('slice', 'StridedSlice', [x, g.ints('b', [4], [0, 1, -4, 0]), g.ints('e', [4], [0, 5, 0, 2]), g.ints('s', [4], [1, 2, 1, 1])], {
      Index: attr.int(),
      begin_mask: attr.i(0b0001),
      end_mask: attr.i(0b0101),
      ellipsis_mask: attr.i(0),
      new_axis_mask: attr.i(0),
      shrink_axis_mask: attr.i(0),
    });
    const dims = await expectSame(g, 'slice');
    expect(dims).toEqual([2, 2, 4, 2]);
  });

  it('the plain forms: Conv2D, DepthwiseConv2dNative, BiasAdd, Relu6, Relu, Squeeze', async () => {
    const g = new TinyGraph();
    const spatial = { strides: attr.ints([1, 1, 1, 1]), dilations: attr.ints([1, 1, 1, 1]), padding: attr.s('SAME'), data_format: attr.s('NHWC') };
    const c = g.op('c', 'Conv2D', [g.input('x', [-1, -1, -1, 3]), g.floats('f', [3, 3, 3, 4])], spatial);
    const b = g.op('b', 'BiasAdd', [c, g.floats('bias', [4])]);
    const r = g.op('r', 'Relu6', [g.op('scaled', 'Mul', [b, g.floats('k', [], [8])])]);
    const d = g.op('d', 'DepthwiseConv2dNative', [r, g.floats('dwf', [3, 3, 4, 1])], spatial);
    const m = g.op('m', 'Mean', [g.op('relu', 'Relu', [d]), g.ints('hw', [2], [1, 2])], { keep_dims: attr.b(true), Tidx: attr.int() });
    g.op('sq', 'Squeeze', [m], { squeeze_dims: attr.ints([1, 2]) });
    expect(await expectSame(g, 'sq')).toEqual([2, 4]);
  });

  it('refuses an op it does not know, naming the op and the node', () => {
    const g = new TinyGraph();
    g.op('pooled', 'MaxPool', [g.input('x', [-1, 4, 4, 3])]);
    expect(() => g.convert()).toThrow(ConversionError);
    expect(() => g.convert()).toThrow(/^MaxPool node "pooled": op MaxPool is not supported \(supported: .*_FusedConv2D/);
  });

  it('refuses a fused op it does not know, and a non-NHWC layout', () => {
    const g = new TinyGraph();
    conv(g, 'bn', g.input('x', [-1, 4, 4, 3]), { filter: [1, 1, 3, 2], fused: ['FusedBatchNorm'] });
    expect(() => g.convert()).toThrow(/_FusedConv2D node "bn": fused op fusedbatchnorm is not supported/);
    const h = new TinyGraph();
    const x = h.input('x', [-1, 3, 4, 4]);
    h.op('c', 'Conv2D', [x, h.floats('f', [1, 1, 3, 2])], { data_format: attr.s('NCHW'), padding: attr.s('VALID'), strides: attr.ints([1, 1, 1, 1]) });
    expect(() => h.convert()).toThrow(/data_format NCHW is not supported/);
  });

  it('writes the same bytes for the same graph', () => {
    const build = () => {
      const g = new TinyGraph();
      conv(g, 'c', g.input('x', [-1, -1, -1, 3]), { filter: [3, 3, 3, 4] });
      return Buffer.from(g.convert());
    };
    expect(build().equals(build())).toBe(true);
  });
});

describe('converting a model folder', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A tiny graph model written as model.json plus one weight file. */
  function folder(): string {
    dir = mkdtempSync(join(tmpdir(), 'onnx-convert-'));
    const g = new TinyGraph();
    conv(g, 'c', g.input('x', [-1, -1, -1, 3]), { filter: [3, 3, 3, 4] });
    const json = g.json();
    json.weightsManifest[0].paths = ['weights.bin'];
    mkdirSync(join(dir, 'model'));
    writeFileSync(join(dir, 'model/model.json'), JSON.stringify(json));
    writeFileSync(join(dir, 'model/weights.bin'), g.weights());
    return join(dir, 'model/model.json');
  }

  it('writes model.onnx when its SHA-256 is the expected one', () => {
    const modelJson = folder();
    const first = convertModelFolder(modelJson, join(dir, 'out/model.onnx'));
    const bytes = readFileSync(join(dir, 'out/model.onnx'));
    expect(first.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(convertModelFolder(modelJson, join(dir, 'again/model.onnx'), first.sha256).sha256).toBe(first.sha256);
  });

  it('writes nothing and names both hashes when the result is not the expected one', () => {
    const modelJson = folder();
    const expected = 'a'.repeat(64);
    expect(() => convertModelFolder(modelJson, join(dir, 'out/model.onnx'), expected)).toThrow(
      new RegExp(`model\\.onnx has SHA-256 [0-9a-f]{64}, the committed checksum is ${expected}`),
    );
    expect(existsSync(join(dir, 'out')) ? readdirSync(join(dir, 'out')) : []).toEqual([]);
  });
});
