import type { ResizeMode, Shape } from '../backend.js';

/**
 * Where each output row (or column) reads, as PyTorch's upsampling kernels compute it in float32: two source indices
 * and their weights (nearest: one index, weight 1).
 */
interface Taps {
  low: Int32Array;
  high: Int32Array;
  highWeight: Float32Array;
}

function taps(inSize: number, outSize: number, mode: ResizeMode): Taps {
  const low = new Int32Array(outSize);
  const high = new Int32Array(outSize);
  const highWeight = new Float32Array(outSize);
  const scale = Math.fround(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    if (mode === 'nearest') {
      low[o] = high[o] = Math.min(Math.floor(Math.fround(o * scale)), inSize - 1);
      continue;
    }
    // Half-pixel centres (align_corners false); a position left of the first centre reads the first pixel.
    const source = Math.max(Math.fround(Math.fround(scale * (o + 0.5)) - 0.5), 0);
    low[o] = Math.floor(source);
    high[o] = Math.min(low[o] + 1, inSize - 1);
    highWeight[o] = Math.fround(source - low[o]);
  }
  return { low, high, highWeight };
}

/** x [N, C, H, W] resampled to [N, C, outSize[0], outSize[1]]. */
export function resize2d(
  x: Float32Array,
  xShape: Shape,
  outSize: readonly [number, number],
  mode: ResizeMode,
): Float32Array {
  const [n, c, h, w] = xShape;
  const [oh, ow] = outSize;
  const rows = taps(h, oh, mode);
  const cols = taps(w, ow, mode);
  const y = new Float32Array(n * c * oh * ow);
  for (let plane = 0; plane < n * c; plane++) {
    const from = plane * h * w;
    const to = plane * oh * ow;
    for (let i = 0; i < oh; i++) {
      const top = from + rows.low[i] * w;
      const bottom = from + rows.high[i] * w;
      const down = rows.highWeight[i];
      for (let j = 0; j < ow; j++) {
        const [l, r, right] = [cols.low[j], cols.high[j], cols.highWeight[j]];
        const upper = (1 - right) * x[top + l] + right * x[top + r];
        const lower = (1 - right) * x[bottom + l] + right * x[bottom + r];
        y[to + i * ow + j] = (1 - down) * upper + down * lower;
      }
    }
  }
  return y;
}

/** The gradient of resize2d: each output's gradient spread back over the pixels it read, by the same weights. */
export function resize2dBackward(
  dy: Float32Array,
  dyShape: Shape,
  xShape: Shape,
  mode: ResizeMode,
): Float32Array {
  const [n, c, h, w] = xShape;
  const [oh, ow] = [dyShape[2], dyShape[3]];
  const rows = taps(h, oh, mode);
  const cols = taps(w, ow, mode);
  const dx = new Float32Array(n * c * h * w);
  for (let plane = 0; plane < n * c; plane++) {
    const to = plane * h * w;
    const from = plane * oh * ow;
    for (let i = 0; i < oh; i++) {
      const top = to + rows.low[i] * w;
      const bottom = to + rows.high[i] * w;
      const down = rows.highWeight[i];
      for (let j = 0; j < ow; j++) {
        const [l, r, right] = [cols.low[j], cols.high[j], cols.highWeight[j]];
        const g = dy[from + i * ow + j];
        dx[top + l] += (1 - down) * (1 - right) * g;
        dx[top + r] += (1 - down) * right * g;
        dx[bottom + l] += down * (1 - right) * g;
        dx[bottom + r] += down * right * g;
      }
    }
  }
  return dx;
}
