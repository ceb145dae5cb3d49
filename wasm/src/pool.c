// Max and average pooling, forward and backward, with PyTorch's windows: a ceil-mode window is clipped to the padded
// input first (that size is the divisor when padding counts), then to the input.
#include "kernels.h"

// The geometry the TypeScript side writes as 14 int32s (see src/backend/wasm/index.ts, poolGeometry).
typedef struct {
  int planes, height, width, outH, outW, kernelH, kernelW, strideH, strideW, top, bottom, left, right;
  int countIncludePad;
} Pool;

typedef struct {
  int start, end, padded;
} Window;

static Window window(int o, int inSize, int kernel, int stride, int before, int after) {
  const int first = o * stride - before, last = min_int(first + kernel, inSize + after);
  Window w = {max_int(first, 0), min_int(last, inSize), last - first};
  return w;
}

static Window row_window(const Pool *g, int oh) {
  return window(oh, g->height, g->kernelH, g->strideH, g->top, g->bottom);
}
static Window column_window(const Pool *g, int ow) {
  return window(ow, g->width, g->kernelW, g->strideW, g->left, g->right);
}

static float divisor(const Pool *g, Window r, Window c) {
  return g->countIncludePad ? (float)(r.padded * c.padded) : (float)((r.end - r.start) * (c.end - c.start));
}

// Four neighbouring inputs at stride 1, or every other one of eight at stride 2.
static inline v128_t four_inputs(const float *p, int stride) {
  if (stride == 1) return wasm_v128_load(p);
  return wasm_i32x4_shuffle(wasm_v128_load(p), wasm_v128_load(p + 4), 0, 2, 4, 6);
}

// Outputs ow..ow+3 of row window r, whose column windows lie whole inside the input (at stride 2 one input more: the
// eighth value loaded), in four lanes: lane by lane the comparisons of one output, in the same order, so the same
// values and indices.
static void max_pool_four(const Pool *g, const float *in, Window r, int ow, float *y, int *argmax) {
  const int first = ow * g->strideW - g->left, stride = g->strideW;
  const v128_t lanes = wasm_i32x4_make(0, stride, 2 * stride, 3 * stride);
  v128_t value = four_inputs(in + r.start * g->width + first, stride);
  v128_t best = wasm_i32x4_add(wasm_i32x4_splat(r.start * g->width + first), lanes);
  for (int ih = r.start; ih < r.end; ih++)
    for (int iw = first; iw < first + g->kernelW; iw++) {
      const v128_t v = four_inputs(in + ih * g->width + iw, stride);
      const v128_t wins = wasm_v128_or(wasm_f32x4_gt(v, value), wasm_f32x4_ne(v, v));
      value = wasm_v128_bitselect(v, value, wins);
      best = wasm_v128_bitselect(wasm_i32x4_add(wasm_i32x4_splat(ih * g->width + iw), lanes), best, wins);
    }
  wasm_v128_store(y, value);
  if (argmax) wasm_v128_store(argmax, best);
}

// argmax (null for inference) gets the flat index ih·W + iw within the plane, −1 for a window of padding only.
EXPORT(max_pool2d) void max_pool2d(const Pool *g, const float *x, float *y, int *argmax) {
  const int stride = g->strideW;
  for (int plane = 0; plane < g->planes; plane++) {
    const float *in = x + plane * g->height * g->width;
    for (int oh = 0; oh < g->outH; oh++) {
      const Window r = row_window(g, oh);
      for (int ow = 0; ow < g->outW;) {
        const int o = (plane * g->outH + oh) * g->outW + ow, first = ow * stride - g->left;
        if ((stride == 1 || stride == 2) && r.start < r.end && ow + 4 <= g->outW && first >= 0 &&
            first + 3 * stride + g->kernelW + (stride - 1) <= g->width) {
          max_pool_four(g, in, r, ow, y + o, argmax ? argmax + o : 0);
          ow += 4;
          continue;
        }
        const Window c = column_window(g, ow);
        const int empty = r.start >= r.end || c.start >= c.end;
        int best = empty ? -1 : r.start * g->width + c.start;
        float value = empty ? -__builtin_inff() : in[best];
        for (int ih = r.start; ih < r.end; ih++)
          for (int iw = c.start; iw < c.end; iw++) {
            const float v = in[ih * g->width + iw];
            if (v > value || v != v) value = v, best = ih * g->width + iw;
          }
        y[o] = value;
        if (argmax) argmax[o] = best;
        ow++;
      }
    }
  }
}

EXPORT(max_pool2d_backward) void max_pool2d_backward(const Pool *g, const float *dy, const int *argmax, float *dx) {
  const int plane = g->outH * g->outW, inPlane = g->height * g->width;
  __builtin_memset(dx, 0, sizeof(float) * g->planes * inPlane);
  for (int o = 0; o < g->planes * plane; o++)
    if (argmax[o] >= 0) dx[(o / plane) * inPlane + argmax[o]] += dy[o];
}

EXPORT(avg_pool2d) void avg_pool2d(const Pool *g, const float *x, float *y) {
  for (int plane = 0; plane < g->planes; plane++) {
    const float *in = x + plane * g->height * g->width;
    for (int oh = 0; oh < g->outH; oh++) {
      const Window r = row_window(g, oh);
      for (int ow = 0; ow < g->outW; ow++) {
        const Window c = column_window(g, ow);
        float sum = 0.0f;
        for (int ih = r.start; ih < r.end; ih++)
          for (int iw = c.start; iw < c.end; iw++) sum += in[ih * g->width + iw];
        const int empty = r.start >= r.end || c.start >= c.end;
        y[(plane * g->outH + oh) * g->outW + ow] = empty ? 0.0f : sum / divisor(g, r, c);
      }
    }
  }
}

EXPORT(avg_pool2d_backward) void avg_pool2d_backward(const Pool *g, const float *dy, float *dx) {
  __builtin_memset(dx, 0, sizeof(float) * g->planes * g->height * g->width);
  for (int plane = 0; plane < g->planes; plane++) {
    float *out = dx + plane * g->height * g->width;
    for (int oh = 0; oh < g->outH; oh++) {
      const Window r = row_window(g, oh);
      for (int ow = 0; ow < g->outW; ow++) {
        const Window c = column_window(g, ow);
        const float share = dy[(plane * g->outH + oh) * g->outW + ow] / divisor(g, r, c);
        for (int ih = r.start; ih < r.end; ih++)
          for (int iw = c.start; iw < c.end; iw++) out[ih * g->width + iw] += share;
      }
    }
  }
}
