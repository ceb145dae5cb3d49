import type { LrnAttrs, Shape } from '../backend.js';
import { ShapeError, ValueError, formatShape } from '../../errors.js';
import { sizeOf } from '../shapes.js';

/** An [N, C, ...] shape seen as N blocks of C channels of `inner` contiguous values each. */
interface ChannelLayout {
  batch: number;
  channels: number;
  inner: number;
}

function channelLayout(op: string, shape: Shape): ChannelLayout {
  if (shape.length < 2) throw new ShapeError(`${op}: input ${formatShape(shape)} must be [N, C, ...]`);
  return { batch: shape[0], channels: shape[1], inner: sizeOf(shape.slice(2)) };
}

function checkPerChannel(
  op: string,
  shape: Shape,
  channels: number,
  params: Record<string, Float32Array>,
): void {
  for (const [name, values] of Object.entries(params)) {
    if (values.length !== channels) {
      throw new ShapeError(`${op}: ${name} has ${values.length} values for input ${formatShape(shape)}`);
    }
  }
}

/** First and last channel offsets of PyTorch's LRN window: it pads size/2 before and (size − 1)/2 after. */
function lrnWindow(attrs: LrnAttrs): { before: number; after: number } {
  if (!Number.isInteger(attrs.size) || attrs.size < 1) {
    throw new ValueError(`lrn: size ${attrs.size} must be a positive integer`);
  }
  return { before: Math.floor(attrs.size / 2), after: Math.floor((attrs.size - 1) / 2) };
}

/**
 * k + alpha/size · Σ a² over each channel's window, for batch item n, in float64. PyTorch averages over `size`
 * even where the window is clipped at the first or last channel.
 */
function lrnDenominators(x: Float32Array, layout: ChannelLayout, attrs: LrnAttrs, n: number): Float64Array {
  const { channels, inner } = layout;
  const { before, after } = lrnWindow(attrs);
  const scale = attrs.alpha / attrs.size;
  const squares = new Float64Array(channels * inner);
  const base = n * channels * inner;
  for (let c = 0; c < channels; c++) {
    for (let s = 0; s < inner; s++) squares[c * inner + s] = x[base + c * inner + s] ** 2;
  }
  const denominators = new Float64Array(channels * inner);
  for (let c = 0; c < channels; c++) {
    const row = denominators.subarray(c * inner, (c + 1) * inner);
    for (let other = Math.max(0, c - before); other <= Math.min(channels - 1, c + after); other++) {
      for (let s = 0; s < inner; s++) row[s] += squares[other * inner + s];
    }
    for (let s = 0; s < inner; s++) row[s] = attrs.k + scale * row[s];
  }
  return denominators;
}

/** PyTorch's LocalResponseNorm across channels: b_c = a_c / (k + alpha/size · Σ_window a²)^beta. */
export function lrn(x: Float32Array, shape: Shape, attrs: LrnAttrs): Float32Array {
  const layout = channelLayout('lrn', shape);
  const block = layout.channels * layout.inner;
  const y = new Float32Array(x.length);
  for (let n = 0; n < layout.batch; n++) {
    const denominators = lrnDenominators(x, layout, attrs, n);
    for (let i = 0; i < block; i++) y[n * block + i] = x[n * block + i] * denominators[i] ** -attrs.beta;
  }
  return y;
}

/**
 * dL/da_j = dy_j · d_j^−β − (2αβ/size) · a_j · Σ_{c whose window holds j} dy_c · a_c · d_c^(−β−1), where d is
 * the denominator base; channel j is in c's window exactly when c lies in [j − after, j + before].
 */
export function lrnBackward(x: Float32Array, dy: Float32Array, shape: Shape, attrs: LrnAttrs): Float32Array {
  const layout = channelLayout('lrnBackward', shape);
  const { channels, inner } = layout;
  const { before, after } = lrnWindow(attrs);
  const { alpha, beta, size } = attrs;
  const block = channels * inner;
  const dx = new Float32Array(x.length);
  const terms = new Float64Array(block);
  const sums = new Float64Array(inner);
  for (let n = 0; n < layout.batch; n++) {
    const base = n * block;
    const denominators = lrnDenominators(x, layout, attrs, n);
    for (let i = 0; i < block; i++) terms[i] = dy[base + i] * x[base + i] * denominators[i] ** (-beta - 1);
    for (let j = 0; j < channels; j++) {
      sums.fill(0);
      for (let c = Math.max(0, j - after); c <= Math.min(channels - 1, j + before); c++) {
        for (let s = 0; s < inner; s++) sums[s] += terms[c * inner + s];
      }
      for (let s = 0; s < inner; s++) {
        const i = j * inner + s;
        dx[base + i] =
          dy[base + i] * denominators[i] ** -beta - ((2 * alpha * beta) / size) * x[base + i] * sums[s];
      }
    }
  }
  return dx;
}

/** Per-channel mean and biased variance over every axis but 1, in float64 and two passes for accuracy. */
function channelStatistics(
  x: Float32Array,
  layout: ChannelLayout,
): { mean: Float64Array; variance: Float64Array } {
  const { batch, channels, inner } = layout;
  const count = batch * inner;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (let n = 0; n < batch; n++) {
      const start = (n * channels + c) * inner;
      for (let s = 0; s < inner; s++) sum += x[start + s];
    }
    mean[c] = sum / count;
    let squares = 0;
    for (let n = 0; n < batch; n++) {
      const start = (n * channels + c) * inner;
      for (let s = 0; s < inner; s++) squares += (x[start + s] - mean[c]) ** 2;
    }
    variance[c] = squares / count;
  }
  return { mean, variance };
}

/** y = (x − μ_c) · scale_c + shift_c on every value of channel c. */
function affinePerChannel(
  x: Float32Array,
  layout: ChannelLayout,
  mean: ArrayLike<number>,
  scale: ArrayLike<number>,
  shift: ArrayLike<number>,
): Float32Array {
  const { batch, channels, inner } = layout;
  const y = new Float32Array(x.length);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const start = (n * channels + c) * inner;
      for (let s = 0; s < inner; s++) y[start + s] = (x[start + s] - mean[c]) * scale[c] + shift[c];
    }
  }
  return y;
}

/** Batch normalisation with this batch's statistics over N and every spatial axis; also for [N, C] input. */
export function batchNormTraining(
  x: Float32Array,
  shape: Shape,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
): { y: Float32Array; mean: Float32Array; variance: Float32Array } {
  const layout = channelLayout('batchNormTraining', shape);
  checkPerChannel('batchNormTraining', shape, layout.channels, { gamma, beta });
  const { mean, variance } = channelStatistics(x, layout);
  const scale = Float64Array.from(gamma, (g, c) => g / Math.sqrt(variance[c] + eps));
  const y = affinePerChannel(x, layout, mean, scale, beta);
  return { y, mean: Float32Array.from(mean), variance: Float32Array.from(variance) };
}

/** Batch normalisation with given (running) statistics. */
export function batchNormInference(
  x: Float32Array,
  shape: Shape,
  gamma: Float32Array,
  beta: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  eps: number,
): Float32Array {
  const layout = channelLayout('batchNormInference', shape);
  checkPerChannel('batchNormInference', shape, layout.channels, { gamma, beta, mean, variance });
  const scale = Float64Array.from(gamma, (g, c) => g / Math.sqrt(variance[c] + eps));
  return affinePerChannel(x, layout, mean, scale, beta);
}

/**
 * Training-mode gradients, through the batch statistics (Ioffe & Szegedy 2015, section 3), with x̂ the
 * normalised input and M the values per channel: dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)).
 */
export function batchNormBackward(
  x: Float32Array,
  dy: Float32Array,
  shape: Shape,
  gamma: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  eps: number,
): { dx: Float32Array; dgamma: Float32Array; dbeta: Float32Array } {
  const layout = channelLayout('batchNormBackward', shape);
  const { batch, channels, inner } = layout;
  checkPerChannel('batchNormBackward', shape, channels, { gamma, mean, variance });
  const count = batch * inner;
  const dx = new Float32Array(x.length);
  const dgamma = new Float32Array(channels);
  const dbeta = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const invStd = 1 / Math.sqrt(variance[c] + eps);
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let n = 0; n < batch; n++) {
      const start = (n * channels + c) * inner;
      for (let s = 0; s < inner; s++) {
        sumDy += dy[start + s];
        sumDyXhat += dy[start + s] * (x[start + s] - mean[c]) * invStd;
      }
    }
    dbeta[c] = sumDy;
    dgamma[c] = sumDyXhat;
    const meanDy = sumDy / count;
    const meanDyXhat = sumDyXhat / count;
    const scale = gamma[c] * invStd;
    for (let n = 0; n < batch; n++) {
      const start = (n * channels + c) * inner;
      for (let s = 0; s < inner; s++) {
        const xhat = (x[start + s] - mean[c]) * invStd;
        dx[start + s] = scale * (dy[start + s] - meanDy - xhat * meanDyXhat);
      }
    }
  }
  return { dx, dgamma, dbeta };
}
