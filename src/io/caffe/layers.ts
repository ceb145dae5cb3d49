/**
 * Each Caffe layer type convnets builds, as ONNX nodes with Caffe's semantics: its parameters read with caffe.proto's
 * defaults, its blobs checked against the shapes the layer implies, its output shape computed as Caffe computes it.
 */
import { formatShape } from '../../errors.js';
import type { CaffeBlob } from './caffemodel.js';
import type { Fields } from './fields.js';
import type { CaffeGraph } from './graph.js';

/** One layer being built: its parameters, connections and blobs. */
export interface LayerContext {
  graph: CaffeGraph;
  layer: Fields;
  name: string;
  type: string;
  bottoms: string[];
  tops: string[];
  /** The layer's blobs in the caffemodel (an error naming the layer when it has none but needs some). */
  blobs(): CaffeBlob[];
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Blob `index` of the layer, its values checked to be `dims`' count (legacy 4-D blobs hold the same values). */
function blobValues(ctx: LayerContext, index: number, dims: number[], what: string): Float32Array {
  const blobs = ctx.blobs();
  const blob = blobs[index];
  if (blob === undefined)
    ctx.layer.fail(`the caffemodel has ${blobs.length} blobs for it, so no ${what} (blob ${index})`);
  if (blob.data.length !== product(dims)) {
    ctx.layer.fail(
      `${what} (blob ${index}) has shape ${formatShape(blob.shape)}, ${blob.data.length} values; expected ${formatShape(dims)}`,
    );
  }
  return blob.data;
}

function oneBottom(ctx: LayerContext): { value: string; shape: number[] } {
  if (ctx.bottoms.length !== 1) ctx.layer.fail(`takes one bottom, got ${ctx.bottoms.length}`);
  if (ctx.tops.length !== 1) ctx.layer.fail(`makes one top, got ${ctx.tops.length}`);
  return ctx.graph.value(ctx.bottoms[0], ctx.layer.where);
}

function spatial(ctx: LayerContext, shape: number[]): [number, number] {
  if (shape.length !== 4) ctx.layer.fail(`takes a 4-D (N, C, H, W) bottom, got ${formatShape(shape)}`);
  return [shape[2], shape[3]];
}

/** A spatial parameter given as `x_h`/`x_w` or as `x` (one value, or one per axis), as Convolution and Pooling do. */
function pair(
  p: Fields,
  [name, prefix]: [string, string],
  fallback: number | undefined,
  min: number,
  repeated: boolean,
): [number, number] {
  if (p.has(`${prefix}_h`) || p.has(`${prefix}_w`)) {
    if (p.has(name)) p.fail(`give ${name} or ${prefix}_h/${prefix}_w, not both`);
    return [p.integer(`${prefix}_h`, undefined, min), p.integer(`${prefix}_w`, undefined, min)];
  }
  const values = repeated ? p.integers(name, min) : p.has(name) ? [p.integer(name, undefined, min)] : [];
  if (values.length === 0) {
    if (fallback === undefined) p.fail(`${name} is required`);
    return [fallback, fallback];
  }
  if (values.length > 2) p.fail(`${name} has ${values.length} values; 2-D layers take 1 or 2`);
  return [values[0], values[values.length - 1]];
}

const KERNEL: [string, string] = ['kernel_size', 'kernel'];
const STRIDE: [string, string] = ['stride', 'stride'];
const PAD: [string, string] = ['pad', 'pad'];
const DILATION: [string, string] = ['dilation', 'dilation'];

function convolution(ctx: LayerContext): void {
  const { value, shape } = oneBottom(ctx);
  const [height, width] = spatial(ctx, shape);
  const p = ctx.layer.message('convolution_param');
  if (p.integer('axis', 1) !== 1) p.fail('only axis 1 (channels) is built');
  const outputs = p.integer('num_output', undefined, 1);
  const kernel = pair(p, KERNEL, undefined, 1, true);
  const stride = pair(p, STRIDE, 1, 1, true);
  const pad = pair(p, PAD, 0, 0, true);
  const dilation = pair(p, DILATION, 1, 1, true);
  const group = p.integer('group', 1, 1);
  const channels = shape[1];
  if (channels % group !== 0 || outputs % group !== 0)
    p.fail(`group ${group} does not divide the ${channels} input and ${outputs} output channels`);
  const out = [height, width].map(
    (size, i) => Math.floor((size + 2 * pad[i] - (dilation[i] * (kernel[i] - 1) + 1)) / stride[i]) + 1,
  );
  if (out.some((n) => n < 1))
    p.fail(`kernel ${kernel.join('×')} does not fit the bottom ${formatShape(shape)}`);
  const weightDims = [outputs, channels / group, ...kernel];
  const inputs = [
    value,
    ctx.graph.weight(`${ctx.name}.weight`, weightDims, blobValues(ctx, 0, weightDims, 'weight')),
  ];
  if (p.bool('bias_term', true))
    inputs.push(ctx.graph.weight(`${ctx.name}.bias`, [outputs], blobValues(ctx, 1, [outputs], 'bias')));
  const top = ctx.graph.define(ctx.tops[0], [shape[0], outputs, ...out]);
  ctx.graph.node('Conv', inputs, [top], ctx.name, {
    kernel_shape: kernel,
    strides: stride,
    pads: [pad[0], pad[1], pad[0], pad[1]],
    dilations: dilation,
    group,
  });
}

/**
 * Caffe's pooled size: windows rounded up (ceil), less a last window that would start in the padding (where there is
 * padding). ONNX's ceil mode keeps that window, so Caffe's size is built as floor mode where it dropped one: the
 * remaining windows are the same, and so are their averages' divisors.
 */
function pooledSizes(
  p: Fields,
  size: number[],
  kernel: number[],
  stride: number[],
  pad: number[],
  ceil: boolean,
) {
  const floorSizes = size.map((s, i) => Math.floor((s + 2 * pad[i] - kernel[i]) / stride[i]) + 1);
  const ceilSizes = size.map((s, i) => Math.ceil((s + 2 * pad[i] - kernel[i]) / stride[i]) + 1);
  if (!ceil) return { out: floorSizes, ceilMode: 0 };
  const padded = pad.some((x) => x > 0);
  const out = ceilSizes.map((n, i) => (padded && (n - 1) * stride[i] >= size[i] + pad[i] ? n - 1 : n));
  if (out.every((n, i) => n === floorSizes[i])) return { out, ceilMode: 0 };
  // PyTorch's ceil mode, which convnets runs, drops a last window starting past the input and its start padding.
  const torchDrops = out.some((n, i) => (n - 1) * stride[i] >= size[i] + pad[i]);
  if (out.every((n, i) => n === ceilSizes[i]) && !torchDrops) return { out, ceilMode: 1 };
  p.fail(
    `pooling ${size.join('×')} by ${kernel.join('×')}, stride ${stride.join('×')}, pad ${pad.join('×')} rounds one axis ` +
      'up and the other down, which convnets does not build',
  );
}

function pooling(ctx: LayerContext): void {
  const { value, shape } = oneBottom(ctx);
  const size = spatial(ctx, shape);
  const p = ctx.layer.message('pooling_param');
  const method = p.enumeration('pool', ['MAX', 'AVE', 'STOCHASTIC'], 'MAX');
  if (method === 'STOCHASTIC') p.fail('STOCHASTIC pooling is not built');
  const opType = method === 'MAX' ? 'MaxPool' : 'AveragePool';
  if (p.bool('global_pooling', false)) {
    const top = ctx.graph.define(ctx.tops[0], [shape[0], shape[1], 1, 1]);
    ctx.graph.node(`Global${opType}`, [value], [top], ctx.name);
    return;
  }
  const kernel = pair(p, KERNEL, undefined, 1, false);
  const stride = pair(p, STRIDE, 1, 1, false);
  const pad = pair(p, PAD, 0, 0, false);
  if (pad.some((x, i) => x >= kernel[i]))
    p.fail(`pad ${pad.join('×')} must be smaller than the kernel ${kernel.join('×')}`);
  const ceil = p.enumeration('round_mode', ['CEIL', 'FLOOR'], 'CEIL') === 'CEIL';
  const { out, ceilMode } = pooledSizes(p, size, kernel, stride, pad, ceil);
  if (out.some((n) => n < 1))
    p.fail(`kernel ${kernel.join('×')} does not fit the bottom ${formatShape(shape)}`);
  const top = ctx.graph.define(ctx.tops[0], [shape[0], shape[1], ...out]);
  // Caffe divides by the window clipped to the padded input: PyTorch's count_include_pad.
  const average: Record<string, number> = method === 'AVE' ? { count_include_pad: 1 } : {};
  ctx.graph.node(opType, [value], [top], ctx.name, {
    kernel_shape: kernel,
    strides: stride,
    pads: [pad[0], pad[1], pad[0], pad[1]],
    ceil_mode: ceilMode,
    ...average,
  });
}

function innerProduct(ctx: LayerContext): void {
  const { value, shape } = oneBottom(ctx);
  const p = ctx.layer.message('inner_product_param');
  if (p.integer('axis', 1) !== 1) p.fail('only axis 1 is built');
  const outputs = p.integer('num_output', undefined, 1);
  const transpose = p.bool('transpose', false);
  // Caffe flattens every axis after the first into the inputs of each output.
  const inputs = product(shape.slice(1));
  let flat = value;
  if (shape.length !== 2) {
    flat = ctx.graph.temporary(`${ctx.name}/flatten`, [shape[0], inputs]);
    ctx.graph.node('Flatten', [value], [flat], `${ctx.name}/flatten`, { axis: 1 });
  }
  const weightDims = transpose ? [inputs, outputs] : [outputs, inputs];
  const gemmInputs = [
    flat,
    ctx.graph.weight(`${ctx.name}.weight`, weightDims, blobValues(ctx, 0, weightDims, 'weight')),
  ];
  if (p.bool('bias_term', true))
    gemmInputs.push(ctx.graph.weight(`${ctx.name}.bias`, [outputs], blobValues(ctx, 1, [outputs], 'bias')));
  const top = ctx.graph.define(ctx.tops[0], [shape[0], outputs]);
  ctx.graph.node('Gemm', gemmInputs, [top], ctx.name, { transB: transpose ? 0 : 1 });
}

function relu(ctx: LayerContext): void {
  const { value, shape } = oneBottom(ctx);
  const slope = ctx.layer.message('relu_param').number('negative_slope', 0);
  const top = ctx.graph.define(ctx.tops[0], shape);
  if (slope === 0) ctx.graph.node('Relu', [value], [top], ctx.name);
  else ctx.graph.node('LeakyRelu', [value], [top], ctx.name, { alpha: { float: slope } });
}

function lrn(ctx: LayerContext): void {
  const { value, shape } = oneBottom(ctx);
  const p = ctx.layer.message('lrn_param');
  if (
    p.enumeration('norm_region', ['ACROSS_CHANNELS', 'WITHIN_CHANNEL'], 'ACROSS_CHANNELS') !==
    'ACROSS_CHANNELS'
  )
    p.fail('only ACROSS_CHANNELS normalisation is built');
  const size = p.integer('local_size', 5, 1);
  if (size % 2 === 0) p.fail(`local_size ${size} must be odd, as Caffe requires`);
  const top = ctx.graph.define(ctx.tops[0], shape);
  // Both Caffe and ONNX divide alpha by the window size: x / (k + alpha/n · Σx²)^beta.
  ctx.graph.node('LRN', [value], [top], ctx.name, {
    size,
    alpha: { float: p.number('alpha', 1) },
    beta: { float: p.number('beta', 0.75) },
    bias: { float: p.number('k', 1) },
  });
}

/**
 * Caffe's BatchNorm (blobs: running sums of the mean and variance, and the factor they are to be divided by), with the
 * Scale layer after it (gamma, and beta where it has a bias) folded in: one BatchNormalization, PyTorch's four
 * tensors named after the BatchNorm layer.
 */
export function batchNorm(ctx: LayerContext, scale: LayerContext | null): void {
  const { value, shape } = oneBottom(ctx);
  if (shape.length < 2) ctx.layer.fail(`takes a bottom with channels, got ${formatShape(shape)}`);
  const channels = shape[1];
  const eps = ctx.layer.message('batch_norm_param').number('eps', 1e-5);
  const factor = blobValues(ctx, 2, [1], 'scale factor')[0];
  // Caffe's rule: a factor of 0 (never updated) means zero statistics.
  const divide = factor === 0 ? 0 : 1 / factor;
  const mean = blobValues(ctx, 0, [channels], 'mean').map((v) => v * divide);
  const variance = blobValues(ctx, 1, [channels], 'variance').map((v) => v * divide);
  const { gamma, beta } =
    scale === null
      ? { gamma: new Float32Array(channels).fill(1), beta: new Float32Array(channels) }
      : scaleValues(scale, channels);
  const name = ctx.name;
  const inputs = [
    value,
    ctx.graph.weight(`${name}.weight`, [channels], gamma),
    ctx.graph.weight(`${name}.bias`, [channels], beta),
    ctx.graph.weight(`${name}.running_mean`, [channels], mean),
    ctx.graph.weight(`${name}.running_var`, [channels], variance),
  ];
  const top = ctx.graph.define((scale ?? ctx).tops[0], shape);
  ctx.graph.node('BatchNormalization', inputs, [top], name, { epsilon: { float: eps } });
}

function scaleValues(ctx: LayerContext, channels: number): { gamma: Float32Array; beta: Float32Array } {
  const p = ctx.layer.message('scale_param');
  if (ctx.bottoms.length !== 1) p.fail('a scale from a second bottom is not built');
  if (p.integer('axis', 1) !== 1 || p.integer('num_axes', 1) !== 1)
    p.fail('only axis 1, num_axes 1 is built');
  const gamma = blobValues(ctx, 0, [channels], 'scale');
  const beta = p.bool('bias_term', false)
    ? blobValues(ctx, 1, [channels], 'bias')
    : new Float32Array(channels);
  return { gamma, beta };
}

/** A Scale layer on its own: a per-channel multiply and add. */
function scaleLayer(ctx: LayerContext): void {
  const { value, shape } = oneBottom(ctx);
  if (shape.length < 2) ctx.layer.fail(`takes a bottom with channels, got ${formatShape(shape)}`);
  const { gamma, beta } = scaleValues(ctx, shape[1]);
  const dims = [shape[1], ...shape.slice(2).map(() => 1)];
  const scaled = ctx.graph.temporary(`${ctx.name}/scaled`, shape);
  ctx.graph.node(
    'Mul',
    [value, ctx.graph.weight(`${ctx.name}.weight`, dims, gamma)],
    [scaled],
    `${ctx.name}/mul`,
  );
  const top = ctx.graph.define(ctx.tops[0], shape);
  ctx.graph.node('Add', [scaled, ctx.graph.weight(`${ctx.name}.bias`, dims, beta)], [top], `${ctx.name}/add`);
}

function sameShapes(ctx: LayerContext): { values: string[]; shape: number[] } {
  if (ctx.bottoms.length < 1 || ctx.tops.length !== 1)
    ctx.layer.fail(`takes bottoms and makes one top, got ${ctx.bottoms.length} and ${ctx.tops.length}`);
  const read = ctx.bottoms.map((b) => ctx.graph.value(b, ctx.layer.where));
  const shape = read[0].shape;
  const other = read.find((r) => formatShape(r.shape) !== formatShape(shape));
  if (other !== undefined)
    ctx.layer.fail(`bottoms ${formatShape(shape)} and ${formatShape(other.shape)} differ`);
  return { values: read.map((r) => r.value), shape };
}

function eltwise(ctx: LayerContext): void {
  const { values, shape } = sameShapes(ctx);
  const p = ctx.layer.message('eltwise_param');
  const operation = p.enumeration('operation', ['PROD', 'SUM', 'MAX'], 'SUM');
  const coefficients = p.numbers('coeff');
  if (coefficients.length > 0 && (operation !== 'SUM' || coefficients.length !== values.length))
    p.fail(`coeff takes one value per bottom (${values.length}), and only with SUM`);
  let inputs = values;
  if (coefficients.some((c) => c !== 1)) {
    inputs = values.map((v, i) => {
      if (coefficients[i] === 1) return v;
      const scaled = ctx.graph.temporary(`${ctx.name}/coeff${i}`, shape);
      ctx.graph.node(
        'Mul',
        [v, ctx.graph.scalar(coefficients[i], ctx.name)],
        [scaled],
        `${ctx.name}/mul${i}`,
      );
      return scaled;
    });
  }
  if (operation === 'PROD') {
    let product = inputs[0];
    for (const [i, next] of inputs.slice(1).entries()) {
      const last = i === inputs.length - 2;
      const out = last
        ? ctx.graph.define(ctx.tops[0], shape)
        : ctx.graph.temporary(`${ctx.name}/prod${i}`, shape);
      ctx.graph.node('Mul', [product, next], [out], last ? ctx.name : `${ctx.name}/prod${i}`);
      product = out;
    }
    if (inputs.length === 1)
      ctx.graph.node('Identity', [product], [ctx.graph.define(ctx.tops[0], shape)], ctx.name);
    return;
  }
  const top = ctx.graph.define(ctx.tops[0], shape);
  ctx.graph.node(operation === 'SUM' ? 'Sum' : 'Max', inputs, [top], ctx.name);
}

function concat(ctx: LayerContext): void {
  if (ctx.bottoms.length < 1 || ctx.tops.length !== 1) ctx.layer.fail('takes bottoms and makes one top');
  const read = ctx.bottoms.map((b) => ctx.graph.value(b, ctx.layer.where));
  const rank = read[0].shape.length;
  const p = ctx.layer.message('concat_param');
  let axis = p.has('axis') ? p.number('axis', 1) : p.integer('concat_dim', 1);
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank)
    p.fail(`axis ${axis} is not an axis of a ${rank}-D blob`);
  if (axis < 0) axis += rank;
  for (const r of read) {
    if (r.shape.length !== rank || r.shape.some((d, i) => i !== axis && d !== read[0].shape[i]))
      ctx.layer.fail(
        `bottoms ${formatShape(read[0].shape)} and ${formatShape(r.shape)} differ off axis ${axis}`,
      );
  }
  const shape = read[0].shape.map((d, i) => (i === axis ? read.reduce((n, r) => n + r.shape[i], 0) : d));
  const top = ctx.graph.define(ctx.tops[0], shape);
  ctx.graph.node(
    'Concat',
    read.map((r) => r.value),
    [top],
    ctx.name,
    { axis },
  );
}

function softmax(ctx: LayerContext): void {
  const { value, shape } = oneBottom(ctx);
  const axis = ctx.layer.message('softmax_param').number('axis', 1);
  if (!Number.isInteger(axis) || axis < -shape.length || axis >= shape.length)
    ctx.layer.fail(`softmax_param axis ${axis} is not an axis of ${formatShape(shape)}`);
  const top = ctx.graph.define(ctx.tops[0], shape);
  // From opset 13 ONNX's Softmax normalises along the one axis, as Caffe's does.
  ctx.graph.node('Softmax', [value], [top], ctx.name, { axis: axis < 0 ? axis + shape.length : axis });
}

/** Dropout is the identity at inference (Caffe scales at training time). */
function dropout(ctx: LayerContext): void {
  const { value, shape } = oneBottom(ctx);
  ctx.graph.node('Identity', [value], [ctx.graph.define(ctx.tops[0], shape)], ctx.name);
}

function flatten(ctx: LayerContext): void {
  const { value, shape } = oneBottom(ctx);
  const p = ctx.layer.message('flatten_param');
  if (p.integer('axis', 1) !== 1 || p.number('end_axis', -1) !== -1)
    p.fail('only axis 1 to the last is built');
  const top = ctx.graph.define(ctx.tops[0], [shape[0], product(shape.slice(1))]);
  ctx.graph.node('Flatten', [value], [top], ctx.name, { axis: 1 });
}

/** Split (which Caffe inserts where a blob feeds several layers): every top is the bottom. */
function split(ctx: LayerContext): void {
  if (ctx.bottoms.length !== 1) ctx.layer.fail(`takes one bottom, got ${ctx.bottoms.length}`);
  const { value } = ctx.graph.value(ctx.bottoms[0], ctx.layer.where);
  for (const top of ctx.tops) ctx.graph.alias(top, value);
}

/** The layer types convnets builds (BatchNorm through batchNorm, which may fold the Scale after it). */
export const LAYER_BUILDERS: Readonly<Record<string, (ctx: LayerContext) => void>> = {
  Convolution: convolution,
  Pooling: pooling,
  InnerProduct: innerProduct,
  ReLU: relu,
  LRN: lrn,
  BatchNorm: (ctx) => batchNorm(ctx, null),
  Scale: scaleLayer,
  Eltwise: eltwise,
  Concat: concat,
  Softmax: softmax,
  Dropout: dropout,
  Flatten: flatten,
  Split: split,
};
