/**
 * Network operators: Conv, pooling, LRN, BatchNormalization (inference), Dropout (inference), Gemm, MatMul,
 * Softmax and LogSoftmax. 1-D convolutions and pools run as 2-D ones of height 1; a 3-D pool whose window moves
 * along one axis (PyTorch's LocalResponseNorm export: a window over channels) as a 2-D one; other 3-D ones are
 * unsupported.
 * Padding convnets' kernels cannot express (uneven, or more than half the window) is applied by Pad first.
 */
import { conv2dOutputShape, pool2dOutputShape, sameShape } from '../../backend/shapes.js';
import { formatShape } from '../../errors.js';
import {
  Tensor,
  type Conv2dOptions,
  adaptiveAvgPool2d,
  add,
  avgPool2d,
  batchNorm,
  broadcastTo,
  conv2d,
  conv2dAttrs,
  conv2dFused,
  div,
  full,
  localResponseNorm,
  logSoftmax,
  matmul,
  max,
  maxPool2d,
  mean,
  mul,
  pad,
  pow,
  relu as reluOp,
  reshape,
  softmax,
} from '../../tensor/index.js';
import { IntValues, DataType } from '../values.js';
import { checkAtLeast, checkSizeIntegers, checkValueSize } from './budget.js';
import { checkBroadcast } from './elementwise.js';
import { checkWindowAtImport, checkWindowValues, readWindow, resolveWindow } from './window.js';
import {
  type OpContext,
  type OpFactory,
  axisIn,
  broadcastShape,
  floatInput,
  limitOutputs,
  malformed,
  product,
  scalarOf,
  unsupported,
} from './context.js';

/** Lifts a 1-D [N, C, L] input to [N, C, 1, L]; refuses anything but 1-D and 2-D spatial data. */
function spatialRank(ctx: OpContext, x: Tensor): 1 | 2 {
  const rank = x.rank - 2;
  if (rank === 1 || rank === 2) return rank;
  return unsupported(ctx, `${rank}-D input ${formatShape(x.shape)}`, `${ctx.node.opType} ${rank}-D`);
}

const lift = (t: Tensor): Tensor => reshape(t, [...t.shape.slice(0, 2), 1, ...t.shape.slice(2)]);
const lower = (t: Tensor): Tensor => reshape(t, [...t.shape.slice(0, 2), t.shape[3]]);

/**
 * Conv, or with `fused` convnets' FusedConv (see optimize.ts): Conv's inputs and attributes, plus an optional
 * fourth input Z added to the output and an `activation` attribute ('Relu') applied after the sum.
 */
const convolution =
  (fused: boolean): OpFactory =>
  (ctx) => {
    const activation = fused ? ctx.attrs.string('activation', '') : '';
    if (activation !== '' && activation !== 'Relu')
      unsupported(ctx, `activation '${activation}'`, `FusedConv ${activation}`);
    const group = ctx.attrs.int('group', 1);
    const kernelShape = ctx.attrs.ints('kernel_shape');
    checkSizeIntegers(ctx, "attribute 'group'", [group], 1);
    checkSizeIntegers(ctx, "attribute 'kernel_shape'", kernelShape ?? [], 1);
    const window = readWindow(ctx, true);
    const weight = ctx.constantInput(1);
    const kernelAtImport = kernelShape ?? weight?.shape.slice(2);
    if (kernelAtImport !== undefined) checkWindowAtImport(ctx, window, kernelAtImport, weight?.shape[0] ?? 1);
    return (inputs, consumable = () => false) => {
      let x = floatInput(ctx, inputs, 0, 'X');
      let w = floatInput(ctx, inputs, 1, 'W');
      const b = inputs[2] ? floatInput(ctx, inputs, 2, 'B') : null;
      const rank = spatialRank(ctx, x);
      if (w.rank !== x.rank)
        malformed(ctx, `weight ${formatShape(w.shape)} does not fit input ${formatShape(x.shape)}`);
      const kernel = w.shape.slice(2);
      if (
        kernelShape !== undefined &&
        (kernelShape.length !== rank || kernelShape.some((k, i) => k !== kernel[i]))
      ) {
        malformed(
          ctx,
          `kernel_shape [${kernelShape.join(', ')}] does not match weight ${formatShape(w.shape)}`,
        );
      }
      // Resolved per call: SAME padding depends on the input's size.
      let { stride, dilation, pads } = resolveWindow(ctx, window, x.shape.slice(2), kernel);
      const spatial = x.shape
        .slice(2)
        .map(
          (n, i) =>
            Math.floor((n + pads[i][0] + pads[i][1] - dilation[i] * (kernel[i] - 1) - 1) / stride[i]) + 1,
        );
      const uneven = pads.some(([begin, end]) => begin !== end);
      checkWindowValues(ctx, window, x, pads, { channels: w.shape[0], spatial }, uneven);
      if (rank === 1) {
        [x, w] = [lift(x), lift(w)];
        [stride, dilation, pads] = [
          [1, ...stride],
          [1, ...dilation],
          [[0, 0], ...pads],
        ];
      }
      const even = pads.every(([begin, end]) => begin === end);
      if (!even) x = pad(x, [0, 0, pads[0][0], pads[1][0]], [0, 0, pads[0][1], pads[1][1]]);
      const options: Conv2dOptions = {
        stride: [stride[0], stride[1]],
        dilation: [dilation[0], dilation[1]],
        padding: even ? [pads[0][0], pads[1][0]] : 0,
        groups: group,
      };
      const sum = inputs[3] ? floatInput(ctx, inputs, 3, 'Z') : null;
      const relu = activation === 'Relu';
      const fusable =
        rank === 2 &&
        (sum === null ||
          sameShape(
            sum.shape,
            conv2dOutputShape(x.shape, w.shape, conv2dAttrs([kernel[0], kernel[1]], options)),
          ));
      if (fusable) return [conv2dFused(x, w, b, options, { add: sum, relu, consumeAdd: consumable(3) })];
      // A 1-D convolution, or a sum that broadcasts: the sum and the activation run after the convolution.
      let y = conv2d(x, w, b, options);
      if (rank === 1) y = lower(y);
      if (sum !== null) {
        checkBroadcast(ctx, y, sum);
        y = add(y, sum);
      }
      return [relu ? reluOp(y) : y];
    };
  };

/**
 * Whether max pooling with `pads` (end ≥ begin) has the windows of PyTorch's ceil mode with the begin padding on
 * both sides: the same count along each axis. Padding never wins a max, so they then take the same maxima.
 */
function ceilModeEquivalent(
  xShape: readonly number[],
  kernel: readonly number[],
  stride: readonly number[],
  pads: readonly (readonly [number, number])[],
  expected: readonly number[],
): boolean {
  if (pads.some(([begin, end], i) => end < begin || begin > kernel[i] / 2)) return false;
  const ceil = pool2dOutputShape(xShape, {
    kernel: [kernel[0], kernel[1]],
    stride: [stride[0], stride[1]],
    padding: [pads[0][0], pads[0][0], pads[1][0], pads[1][0]],
    ceilMode: true,
    countIncludePad: false,
  });
  return ceil[2] === expected[0] && ceil[3] === expected[1];
}

/** ONNX's pooled size: floor (or ceil) of (in + pads − kernel) / stride, + 1. */
function onnxPooledSize(
  size: number,
  kernel: number,
  stride: number,
  [begin, end]: [number, number],
  ceil: boolean,
): number {
  const span = (size + begin + end - kernel) / stride;
  return (ceil ? Math.ceil(span) : Math.floor(span)) + 1;
}

/**
 * A 3-D pooling whose window moves along one spatial axis only (kernel 1, stride 1, no padding on the others) as a
 * 2-D one: the axes before it merge into the channels and those after it into one axis, of window 1.
 */
function alongOneAxis(
  ctx: OpContext,
  x: Tensor,
  kernel: readonly number[],
  stride: readonly number[],
  pads: [number, number][],
): { x: Tensor; k: number[]; s: number[]; pads: [number, number][] } {
  const moving = kernel.flatMap((k, i) =>
    k !== 1 || stride[i] !== 1 || pads[i][0] !== 0 || pads[i][1] !== 0 ? [i] : [],
  );
  if (moving.length > 1) {
    unsupported(ctx, `3-D pooling over ${moving.length} axes`, `${ctx.node.opType} 3-D over several axes`);
  }
  const axis = moving[0] ?? 0;
  const [n, c, ...dims] = x.shape;
  const merged = [n, c * product(dims.slice(0, axis)), dims[axis], product(dims.slice(axis + 1))];
  return { x: reshape(x, merged), k: [kernel[axis], 1], s: [stride[axis], 1], pads: [pads[axis], [0, 0]] };
}

function pool(kind: 'max' | 'avg'): OpFactory {
  return (ctx) => {
    limitOutputs(ctx, 1, 'Indices');
    const kernel = ctx.attrs.ints('kernel_shape');
    if (kernel === undefined) malformed(ctx, "attribute 'kernel_shape' is required");
    checkSizeIntegers(ctx, "attribute 'kernel_shape'", kernel, 1);
    const rank = kernel.length;
    if (rank < 1 || rank > 3) unsupported(ctx, `${rank}-D pooling`, `${ctx.node.opType} ${rank}-D`);
    const ceil = ctx.attrs.int('ceil_mode', 0) !== 0;
    const countIncludePad = kind === 'avg' && ctx.attrs.int('count_include_pad', 0) !== 0;
    const window = readWindow(ctx, kind === 'max');
    checkWindowAtImport(ctx, window, kernel, 1);
    if (window.dilations?.some((d) => d !== 1)) {
      unsupported(
        ctx,
        `attribute 'dilations' [${window.dilations.join(', ')}]`,
        'MaxPool attribute dilations',
      );
    }
    if (kind === 'max') {
      const storageOrder = ctx.attrs.int('storage_order', 0);
      if (storageOrder !== 0) {
        unsupported(ctx, `attribute 'storage_order' ${storageOrder}`, 'MaxPool attribute storage_order');
      }
    }
    return (inputs) => {
      const input3d = floatInput(ctx, inputs, 0, 'X');
      if ((rank === 3 ? input3d.rank - 2 : spatialRank(ctx, input3d)) !== rank)
        malformed(ctx, `input ${formatShape(input3d.shape)} does not fit ${rank}-D pooling`);
      let x = input3d;
      let { stride: s, pads } = resolveWindow(ctx, window, x.shape.slice(2), kernel);
      const expected = x.shape
        .slice(2)
        .map((size, i) => onnxPooledSize(size, kernel[i], s[i], pads[i], ceil));
      // A padded copy unless the pads are even and within half the window (see below).
      const copied = pads.some(([begin, end], i) => begin !== end || begin > kernel[i] / 2);
      checkWindowValues(ctx, window, x, pads, { channels: x.shape[1], spatial: expected }, copied);
      let k = kernel;
      if (rank === 1) {
        x = lift(x);
        pads.unshift([0, 0]);
        k = [1, ...kernel];
        s = [1, ...s];
      } else if (rank === 3) {
        ({ x, k, s, pads } = alongOneAxis(ctx, x, k, s, pads));
      }
      const symmetric = pads.every(([begin, end], i) => begin === end && begin <= k[i] / 2);
      const options = { stride: [s[0], s[1]] as [number, number], ceilMode: ceil };
      let y: Tensor;
      if (kind === 'max' && rank === 2 && !symmetric && ceilModeEquivalent(x.shape, k, s, pads, expected)) {
        // Extra end padding only lets the last windows reach past the input (exporters write PyTorch's ceil mode
        // so): ceil mode with the begin padding takes the same maxima, without copying the input into a pad.
        y = maxPool2d(x, [k[0], k[1]], { ...options, ceilMode: true, padding: [pads[0][0], pads[1][0]] });
      } else if (symmetric) {
        const padded = { ...options, padding: [pads[0][0], pads[1][0]] as [number, number], countIncludePad };
        y = kind === 'max' ? maxPool2d(x, [k[0], k[1]], padded) : avgPool2d(x, [k[0], k[1]], padded);
      } else {
        // Uneven or wide padding: pad explicitly, then pool the padded input with no padding of its own.
        const before = [0, 0, pads[0][0], pads[1][0]];
        const after = [0, 0, pads[0][1], pads[1][1]];
        if (kind === 'max') y = maxPool2d(pad(x, before, after, -Infinity), [k[0], k[1]], options);
        else {
          const sums = avgPool2d(pad(x, before, after, 0), [k[0], k[1]], {
            ...options,
            countIncludePad: true,
          });
          if (countIncludePad) y = sums;
          else {
            // Average over real elements only: the same pooling of a mask of ones gives each window's share.
            const mask = pad(full([1, 1, x.shape[2], x.shape[3]], 1), before, after, 0);
            y = div(sums, avgPool2d(mask, [k[0], k[1]], { ...options, countIncludePad: true }));
          }
        }
      }
      if (rank === 1) y = lower(y);
      if (rank === 3) y = reshape(y, [...input3d.shape.slice(0, 2), ...expected]);
      const got = y.shape.slice(2);
      if (got.some((d, i) => d !== expected[i])) {
        unsupported(
          ctx,
          `ceil_mode with a last window in the padding (ONNX gives ${formatShape(expected)}, PyTorch's rule ${formatShape(got)})`,
          `${ctx.node.opType} ceil_mode window in padding`,
        );
      }
      return [y];
    };
  };
}

const spatialAxes = (x: Tensor): number[] => x.shape.map((_, i) => i).slice(2);

const globalAveragePool: OpFactory = (ctx) => (inputs) => {
  const x = floatInput(ctx, inputs, 0, 'X');
  if (x.rank < 3) malformed(ctx, `input ${formatShape(x.shape)} has no spatial axes`);
  return [x.rank === 4 ? adaptiveAvgPool2d(x, 1) : mean(x, spatialAxes(x), true)];
};

const globalMaxPool: OpFactory = (ctx) => (inputs) => {
  const x = floatInput(ctx, inputs, 0, 'X');
  if (x.rank < 3) malformed(ctx, `input ${formatShape(x.shape)} has no spatial axes`);
  return [max(x, spatialAxes(x), true)];
};

/**
 * ONNX: y = x / (bias + alpha/size · Σ x²)^beta over channels [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉]. PyTorch's
 * window is [c − ⌊size/2⌋, c + ⌊(size−1)/2⌋]: the same for odd sizes, where convnets' LRN kernel runs; an even
 * size is built from ops with ONNX's window.
 */
const lrn: OpFactory = (ctx) => {
  const size = ctx.attrs.int('size');
  if (size === undefined || size < 1) malformed(ctx, "attribute 'size' must be a positive integer");
  checkSizeIntegers(ctx, "attribute 'size'", [size], 1);
  // An even window is built from ops on the squares padded by size − 1 along the channels.
  const even = size % 2 === 0;
  if (even)
    checkAtLeast(ctx, size - 1, 'tensor', `attribute 'size' ${size} (the squares padded by size − 1)`);
  const alpha = ctx.attrs.float('alpha', 1e-4);
  const beta = ctx.attrs.float('beta', 0.75);
  const bias = ctx.attrs.float('bias', 1);
  return (inputs) => {
    const x = floatInput(ctx, inputs, 0, 'X');
    if (x.rank < 3) malformed(ctx, `input ${formatShape(x.shape)} needs [N, C, …]`);
    if (!even) return [localResponseNorm(x, size, { alpha, beta, k: bias })];
    const [n, c] = x.shape;
    const inner = product(x.shape.slice(2));
    checkValueSize(
      ctx,
      [n, 1, c + size - 1, inner],
      'tensor',
      `attribute 'size' ${size} on input ${formatShape(x.shape)} (the squares padded by size − 1)`,
    );
    const squares = reshape(mul(x, x), [n, 1, c, inner]);
    const padded = pad(squares, [0, 0, Math.floor((size - 1) / 2), 0], [0, 0, Math.ceil((size - 1) / 2), 0]);
    const average = reshape(avgPool2d(padded, [size, 1], { stride: 1 }), x.shape);
    return [div(x, pow(add(mul(average, alpha), bias), beta))];
  };
};

const batchNormalization: OpFactory = (ctx) => {
  const eps = ctx.attrs.float('epsilon', 1e-5);
  ctx.attrs.ignore('momentum', 'is_test', 'consumed_inputs');
  if (ctx.attrs.int('training_mode', 0) !== 0)
    unsupported(ctx, 'training_mode 1', 'BatchNormalization training_mode');
  if (ctx.attrs.int('spatial', 1) !== 1) unsupported(ctx, 'spatial 0', 'BatchNormalization spatial 0');
  limitOutputs(ctx, 1, 'training statistics');
  return (inputs) => {
    const x = floatInput(ctx, inputs, 0, 'X');
    const [gamma, beta, runningMean, runningVar] = ['scale', 'B', 'input_mean', 'input_var'].map((what, i) =>
      floatInput(ctx, inputs, i + 1, what),
    );
    if (x.rank < 2) malformed(ctx, `input ${formatShape(x.shape)} needs [N, C, …]`);
    // convnets' batchNorm takes [N, C] or [N, C, H, W]; other ranks go through as [N, C, rest, 1].
    const direct = x.rank === 2 || x.rank === 4;
    const x4 = direct ? x : reshape(x, [x.shape[0], x.shape[1], product(x.shape.slice(2)), 1]);
    const y = batchNorm(x4, gamma, beta, runningMean, runningVar, { training: false, eps });
    return [direct ? y : reshape(y, x.shape)];
  };
};

/** Inference: the identity, and a mask of ones when asked for. Training mode (random) is unsupported. */
const dropout: OpFactory = (ctx) => {
  ctx.attrs.ignore('ratio', 'seed', 'is_test', 'consumed_inputs');
  const wantsMask = (ctx.node.output[1] ?? '') !== '';
  return (inputs) => {
    const x = floatInput(ctx, inputs, 0, 'data');
    // Training mode drops at random, except with ratio 0, where it is the identity too.
    const ratio = inputs[1] ? scalarOf(inputs[1]) : 0.5;
    if (inputs[2] && scalarOf(inputs[2]) !== 0 && ratio !== 0) {
      unsupported(ctx, 'training_mode true', 'Dropout training_mode');
    }
    if (!wantsMask) return [x];
    checkValueSize(ctx, x.shape, 'integer', `the mask of input ${formatShape(x.shape)}`);
    return [x, new IntValues(x.shape, new Array<number>(x.size).fill(1), DataType.BOOL)];
  };
};

/** Y = alpha · A′·B′ + beta · C, with A′, B′ optionally transposed; C broadcasts (and is optional from opset 11). */
const gemm: OpFactory = (ctx) => {
  const alpha = ctx.attrs.float('alpha', 1);
  const beta = ctx.attrs.float('beta', 1);
  const transposeA = ctx.attrs.int('transA', 0) !== 0;
  const transposeB = ctx.attrs.int('transB', 0) !== 0;
  ctx.attrs.ignore('broadcast');
  return (inputs) => {
    const a = floatInput(ctx, inputs, 0, 'A');
    const b = floatInput(ctx, inputs, 1, 'B');
    if (a.rank !== 2 || b.rank !== 2)
      malformed(ctx, `A ${formatShape(a.shape)} and B ${formatShape(b.shape)} must be 2-D`);
    const rows = transposeA ? a.shape[1] : a.shape[0];
    const columns = transposeB ? b.shape[0] : b.shape[1];
    checkValueSize(ctx, [rows, columns], 'tensor', `A ${formatShape(a.shape)} · B ${formatShape(b.shape)}`);
    let y = matmul(a, b, { transposeA, transposeB });
    if (alpha !== 1) y = mul(y, alpha);
    const c = inputs[2] ? floatInput(ctx, inputs, 2, 'C') : null;
    if (c !== null) checkBroadcast(ctx, y, c);
    if (c !== null && beta !== 0) y = add(y, beta === 1 ? c : mul(c, beta));
    return [y];
  };
};

/** NumPy's matmul: 1-D operands are promoted and the added axis removed; batch axes broadcast. */
const matMul: OpFactory = (ctx) => (inputs) => {
  let a = floatInput(ctx, inputs, 0, 'A');
  let b = floatInput(ctx, inputs, 1, 'B');
  if (a.rank === 0 || b.rank === 0) malformed(ctx, 'operands must have at least one axis');
  const vectorA = a.rank === 1;
  const vectorB = b.rank === 1;
  if (vectorA) a = reshape(a, [1, a.shape[0]]);
  if (vectorB) b = reshape(b, [b.shape[0], 1]);
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) malformed(ctx, `inner dimensions differ: ${formatShape(a.shape)} · ${formatShape(b.shape)}`);
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const product2d = `${formatShape(a.shape)} · ${formatShape(b.shape)}`;
  const batchShape = batchB.length === 0 ? batchA : broadcastShape(ctx, batchA, batchB);
  checkValueSize(ctx, [...batchShape, m, n], 'tensor', product2d);
  if (batchB.length > 0) {
    checkValueSize(ctx, [...batchShape, m, k], 'tensor', `${product2d} (A broadcast)`);
    checkValueSize(ctx, [...batchShape, k, n], 'tensor', `${product2d} (B broadcast)`);
  }
  let y: Tensor;
  let batch: number[];
  if (batchB.length === 0) {
    // [..., m, k] · [k, n]: one matrix product over all rows.
    batch = batchA;
    y = matmul(reshape(a, [product(batchA) * m, k]), b);
  } else {
    batch = broadcastShape(ctx, batchA, batchB);
    const count = product(batch);
    const a3 = reshape(broadcastTo(a, [...batch, m, k]), [count, m, k]);
    const b3 = reshape(broadcastTo(b, [...batch, k, n]), [count, k, n]);
    y = matmul(a3, b3);
  }
  const shape = [...batch, ...(vectorA ? [] : [m]), ...(vectorB ? [] : [n])];
  return [reshape(y, shape)];
};

/**
 * Before opset 13, (Log)Softmax coerces the input to 2-D at `axis` (default 1) and normalises each row; from 13
 * on it normalises along the one axis (default −1).
 */
function softmaxOp(log: boolean): OpFactory {
  return (ctx) => {
    const legacy = ctx.opset < 13;
    const axis = ctx.attrs.int('axis', legacy ? 1 : -1);
    const run = log ? logSoftmax : softmax;
    return (inputs) => {
      const x = floatInput(ctx, inputs, 0, 'input');
      if (x.rank === 0) malformed(ctx, 'input is a scalar');
      if (!legacy) return [run(x, axisIn(ctx, axis, x.rank))];
      const a = axis < 0 ? axis + x.rank : axis;
      if (a < 0 || a > x.rank) malformed(ctx, `axis ${axis} is out of range for rank ${x.rank}`);
      const rows = reshape(x, [product(x.shape.slice(0, a)), product(x.shape.slice(a))]);
      return [reshape(run(rows, 1), x.shape)];
    };
  };
}

export const nnOps: Record<string, OpFactory> = {
  Conv: convolution(false),
  'ai.convnets.FusedConv': convolution(true),
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: globalAveragePool,
  GlobalMaxPool: globalMaxPool,
  LRN: lrn,
  BatchNormalization: batchNormalization,
  Dropout: dropout,
  Gemm: gemm,
  MatMul: matMul,
  Softmax: softmaxOp(false),
  LogSoftmax: softmaxOp(true),
};
