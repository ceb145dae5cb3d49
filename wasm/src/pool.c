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

// argmax (null for inference) gets the flat index ih·W + iw within the plane, −1 for a window of padding only.
EXPORT(max_pool2d) void max_pool2d(const Pool *g, const float *x, float *y, int *argmax) {
  for (int plane = 0; plane < g->planes; plane++) {
    const float *in = x + plane * g->height * g->width;
    for (int oh = 0; oh < g->outH; oh++) {
      const Window r = row_window(g, oh);
      for (int ow = 0; ow < g->outW; ow++) {
        const Window c = column_window(g, ow);
        const int empty = r.start >= r.end || c.start >= c.end;
        int best = empty ? -1 : r.start * g->width + c.start;
        float value = empty ? -__builtin_inff() : in[best];
        for (int ih = r.start; ih < r.end; ih++)
          for (int iw = c.start; iw < c.end; iw++) {
            const float v = in[ih * g->width + iw];
            if (v > value || v != v) value = v, best = ih * g->width + iw;
          }
        const int o = (plane * g->outH + oh) * g->outW + ow;
        y[o] = value;
        if (argmax) argmax[o] = best;
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
