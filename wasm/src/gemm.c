// Packed GEMM (Goto's blocking: k-blocks of the right operand packed into panels NR columns wide, row-blocks of the
// left into panels MR rows high, a 4×8 register tile of SIMD accumulators) and the convolutions built on it. The
// convolution packs its panels straight from the image: no im2col matrix is ever made.
#include "kernels.h"

#define MR 4
#define NR 8
#define KC 256
#define MC 128
#define NC 1024

// Scratch the caller provides: MC·KC floats for the left panels, KC·NC for the right.
EXPORT(gemm_scratch_floats) int gemm_scratch_floats(void) { return MC * KC + KC * NC; }

// Where one operand's values come from: a strided matrix (M(i, j) = data[i·row + j·col]), or the columns of a
// convolution's input image (im2col(k, p): the right operand of the forward, the left of the weights' gradient).
enum { SOURCE_MATRIX, SOURCE_IMAGE };

// The geometry the TypeScript side writes as 20 int32s (see src/backend/wasm/index.ts, convGeometry).
typedef struct {
  int batch, channels, height, width;
  int outChannels, kernelH, kernelW, outH, outW;
  int strideH, strideW, padTop, padLeft, dilationH, dilationW, groups;
} Conv;

typedef struct {
  int kind;
  const float *data;
  int row, col;        // SOURCE_MATRIX
  const Conv *conv;    // SOURCE_IMAGE: data points at the group's first channel of one image
} Source;

// One im2col value: row k = (c, i, j) of the kernel window, column p = (oh, ow) of the output.
static inline float image_value(const Conv *g, const float *x, int c, int ih, int iw) {
  if ((u32)ih >= (u32)g->height || (u32)iw >= (u32)g->width) return 0.0f;
  return x[(c * g->height + ih) * g->width + iw];
}

// im2col rows [k0, k0+kc) and columns [j0, j0+nc) into panels of NR columns (zero past the edge). Eight outputs of
// one row read eight inputs of one image row, at stride 1 two vector loads, at stride 2 four and two shuffles, where
// they lie inside the image; elsewhere value by value.
static void pack_right_image(const Source *s, int k0, int kc, int j0, int nc, float *out) {
  const Conv *g = s->conv;
  const int window = g->kernelH * g->kernelW;
  // Per row k of the block: the kernel tap's offsets (dilated) and its channel's plane, worked out once per block
  // rather than once per panel (divisions cost more than the copying).
  int tapRow[KC], tapColumn[KC], plane[KC];
  for (int k = 0; k < kc; k++) {
    const int r = (k0 + k) % window;
    tapRow[k] = (r / g->kernelW) * g->dilationH;
    tapColumn[k] = (r % g->kernelW) * g->dilationW;
    plane[k] = (k0 + k) / window * g->height * g->width;
  }
  const int stride = g->strideW, span = (NR - 1) * stride + 1;
  for (int jp = 0; jp < nc; jp += NR) {
    const int width = min_int(NR, nc - jp);
    float *panel = out + jp * kc;
    int top[NR], left[NR];
    for (int j = 0; j < NR; j++) {
      const int p = j0 + jp + min_int(j, width - 1);
      top[j] = (p / g->outW) * g->strideH - g->padTop;
      left[j] = (p % g->outW) * stride - g->padLeft;
    }
    const int oneRow = width == NR && (stride == 1 || stride == 2) && top[0] == top[NR - 1];
    for (int k = 0; k < kc; k++) {
      if (oneRow) {
        const int ih = top[0] + tapRow[k], iw = left[0] + tapColumn[k];
        if ((u32)ih >= (u32)g->height) {
          wasm_v128_store(panel + k * NR, wasm_f32x4_splat(0.0f));
          wasm_v128_store(panel + k * NR + 4, wasm_f32x4_splat(0.0f));
          continue;
        }
        // Stride 2 loads 16 values for 15 it uses: the 16th must lie in the row too.
        if (iw >= 0 && iw + (stride == 1 ? NR : span + 1) <= g->width) {
          const float *source = s->data + plane[k] + ih * g->width + iw;
          if (stride == 1) {
            wasm_v128_store(panel + k * NR, wasm_v128_load(source));
            wasm_v128_store(panel + k * NR + 4, wasm_v128_load(source + 4));
          } else {
            const v128_t v0 = wasm_v128_load(source), v1 = wasm_v128_load(source + 4);
            const v128_t v2 = wasm_v128_load(source + 8), v3 = wasm_v128_load(source + 12);
            wasm_v128_store(panel + k * NR, wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6));
            wasm_v128_store(panel + k * NR + 4, wasm_i32x4_shuffle(v2, v3, 0, 2, 4, 6));
          }
          continue;
        }
      }
      const float *source = s->data + plane[k];
      for (int j = 0; j < width; j++) {
        const int ih = top[j] + tapRow[k], iw = left[j] + tapColumn[k];
        panel[k * NR + j] =
            (u32)ih < (u32)g->height && (u32)iw < (u32)g->width ? source[ih * g->width + iw] : 0.0f;
      }
      for (int j = width; j < NR; j++) panel[k * NR + j] = 0.0f;
    }
  }
}

// Right operand rows [k0, k0+kc) and columns [j0, j0+nc) into panels of NR columns (zero past the edge).
static void pack_right(const Source *s, int k0, int kc, int j0, int nc, float *out) {
  if (s->kind == SOURCE_IMAGE) {
    pack_right_image(s, k0, kc, j0, nc, out);
    return;
  }
  for (int jp = 0; jp < nc; jp += NR) {
    const int width = min_int(NR, nc - jp);
    float *panel = out + jp * kc;
    for (int k = 0; k < kc; k++) {
      const float *row = s->data + (k0 + k) * s->row + (j0 + jp) * s->col;
      for (int j = 0; j < width; j++) panel[k * NR + j] = row[j * s->col];
      for (int j = width; j < NR; j++) panel[k * NR + j] = 0.0f;
    }
  }
}

// im2col rows [i0, i0+mc) and columns [k0, k0+kc) into panels of MR rows: four positions of one output row at
// stride 1 are four neighbouring inputs, so MR rows of them load as four vectors and store transposed.
static void pack_left_image(const Source *s, int i0, int mc, int k0, int kc, float *out) {
  const Conv *g = s->conv;
  const int window = g->kernelH * g->kernelW;
  for (int ip = 0; ip < mc; ip += MR) {
    const int height = min_int(MR, mc - ip);
    float *panel = out + ip * kc;
    int channel[MR], di[MR], dj[MR];
    for (int i = 0; i < MR; i++) {
      const int row = i0 + ip + min_int(i, height - 1);
      channel[i] = row / window;
      di[i] = ((row % window) / g->kernelW) * g->dilationH - g->padTop;
      dj[i] = ((row % window) % g->kernelW) * g->dilationW - g->padLeft;
    }
    int oh = k0 / g->outW, ow = k0 % g->outW;
    for (int k = 0; k < kc;) {
      if (height == MR && g->strideW == 1 && ow + 4 <= g->outW && k + 4 <= kc) {
        v128_t v[MR];
        int vector = 1;
        for (int i = 0; i < MR && vector; i++) {
          const int ih = oh * g->strideH + di[i], iw = ow + dj[i];
          if ((u32)ih >= (u32)g->height) v[i] = wasm_f32x4_splat(0.0f);
          else if (iw >= 0 && iw + 4 <= g->width)
            v[i] = wasm_v128_load(s->data + (channel[i] * g->height + ih) * g->width + iw);
          else vector = 0;
        }
        if (vector) {
          const v128_t t0 = wasm_i32x4_shuffle(v[0], v[1], 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(v[0], v[1], 2, 6, 3, 7);
          const v128_t t2 = wasm_i32x4_shuffle(v[2], v[3], 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(v[2], v[3], 2, 6, 3, 7);
          wasm_v128_store(panel + k * MR, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
          wasm_v128_store(panel + (k + 1) * MR, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
          wasm_v128_store(panel + (k + 2) * MR, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
          wasm_v128_store(panel + (k + 3) * MR, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
          k += 4, ow += 4;
          if (ow == g->outW) ow = 0, oh++;
          continue;
        }
      }
      for (int i = 0; i < MR; i++)
        panel[k * MR + i] = i < height ? image_value(g, s->data, channel[i], oh * g->strideH + di[i],
                                                     ow * g->strideW + dj[i])
                                       : 0.0f;
      k++;
      if (++ow == g->outW) ow = 0, oh++;
    }
  }
}

// Left operand rows [i0, i0+mc) and columns [k0, k0+kc) into panels of MR rows (zero past the edge).
static void pack_left(const Source *s, int i0, int mc, int k0, int kc, float *out) {
  if (s->kind == SOURCE_IMAGE) {
    pack_left_image(s, i0, mc, k0, kc, out);
    return;
  }
  for (int ip = 0; ip < mc; ip += MR) {
    const int height = min_int(MR, mc - ip);
    float *panel = out + ip * kc;
    int k = 0;
    if (height == MR && s->col == 1) {
      // Row-major (the weights of the forward): four values of each of the MR rows, transposed in registers.
      const float *r0 = s->data + (i0 + ip) * s->row + k0, *r1 = r0 + s->row, *r2 = r1 + s->row, *r3 = r2 + s->row;
      for (; k + 4 <= kc; k += 4) {
        const v128_t v0 = wasm_v128_load(r0 + k), v1 = wasm_v128_load(r1 + k);
        const v128_t v2 = wasm_v128_load(r2 + k), v3 = wasm_v128_load(r3 + k);
        const v128_t t0 = wasm_i32x4_shuffle(v0, v1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(v0, v1, 2, 6, 3, 7);
        const v128_t t2 = wasm_i32x4_shuffle(v2, v3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(v2, v3, 2, 6, 3, 7);
        wasm_v128_store(panel + k * MR, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
        wasm_v128_store(panel + (k + 1) * MR, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
        wasm_v128_store(panel + (k + 2) * MR, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
        wasm_v128_store(panel + (k + 3) * MR, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
      }
    } else if (height == MR && s->row == 1) {
      // Column-major (transposed: the weights of backward-data): the MR rows of one column are one vector.
      for (; k < kc; k++)
        wasm_v128_store(panel + k * MR, wasm_v128_load(s->data + (i0 + ip) + (k0 + k) * s->col));
    }
    for (; k < kc; k++) {
      const float *column = s->data + (i0 + ip) * s->row + (k0 + k) * s->col;
      for (int i = 0; i < height; i++) panel[k * MR + i] = column[i * s->row];
      for (int i = height; i < MR; i++) panel[k * MR + i] = 0.0f;
    }
  }
}

// C[0..rows, 0..cols] (+)= the MR×NR product of one left and one right panel.
static void tile(int kc, const float *a, const float *b, float *c, int ldc, int accumulate, int rows, int cols) {
  v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int k = 0; k < kc; k++) {
    const v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
    v128_t a0 = wasm_f32x4_splat(a[0]);
    c00 = madd_f32x4(c00, a0, b0);
    c01 = madd_f32x4(c01, a0, b1);
    a0 = wasm_f32x4_splat(a[1]);
    c10 = madd_f32x4(c10, a0, b0);
    c11 = madd_f32x4(c11, a0, b1);
    a0 = wasm_f32x4_splat(a[2]);
    c20 = madd_f32x4(c20, a0, b0);
    c21 = madd_f32x4(c21, a0, b1);
    a0 = wasm_f32x4_splat(a[3]);
    c30 = madd_f32x4(c30, a0, b0);
    c31 = madd_f32x4(c31, a0, b1);
    a += MR;
    b += NR;
  }
  if (rows == MR && cols == NR) {
    float *r0 = c, *r1 = c + ldc, *r2 = c + 2 * ldc, *r3 = c + 3 * ldc;
    if (accumulate) {
      c00 = wasm_f32x4_add(c00, wasm_v128_load(r0)), c01 = wasm_f32x4_add(c01, wasm_v128_load(r0 + 4));
      c10 = wasm_f32x4_add(c10, wasm_v128_load(r1)), c11 = wasm_f32x4_add(c11, wasm_v128_load(r1 + 4));
      c20 = wasm_f32x4_add(c20, wasm_v128_load(r2)), c21 = wasm_f32x4_add(c21, wasm_v128_load(r2 + 4));
      c30 = wasm_f32x4_add(c30, wasm_v128_load(r3)), c31 = wasm_f32x4_add(c31, wasm_v128_load(r3 + 4));
    }
    wasm_v128_store(r0, c00), wasm_v128_store(r0 + 4, c01), wasm_v128_store(r1, c10), wasm_v128_store(r1 + 4, c11);
    wasm_v128_store(r2, c20), wasm_v128_store(r2 + 4, c21), wasm_v128_store(r3, c30), wasm_v128_store(r3 + 4, c31);
    return;
  }
  float t[MR * NR];
  wasm_v128_store(t, c00), wasm_v128_store(t + 4, c01), wasm_v128_store(t + 8, c10), wasm_v128_store(t + 12, c11);
  wasm_v128_store(t + 16, c20), wasm_v128_store(t + 20, c21), wasm_v128_store(t + 24, c30);
  wasm_v128_store(t + 28, c31);
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) c[i * ldc + j] = accumulate ? c[i * ldc + j] + t[i * NR + j] : t[i * NR + j];
}

// Rows [firstRow, lastRow) × columns [firstColumn, lastColumn) of C (row stride ldc) = A·B, or += when accumulate.
// Each value's sum runs over k in the same KC blocks whichever block a call covers, so splitting the rows or the
// columns among threads changes no result.
static void gemm_block(int firstRow, int lastRow, int firstColumn, int lastColumn, int k, const Source *a,
                       const Source *b, float *c, int ldc, int accumulate, float *scratch) {
  float *packedA = scratch, *packedB = scratch + MC * KC;
  if (firstRow >= lastRow || firstColumn >= lastColumn) return;
  if (k == 0) {
    if (!accumulate)
      for (int i = firstRow; i < lastRow; i++)
        __builtin_memset(c + i * ldc + firstColumn, 0, sizeof(float) * (lastColumn - firstColumn));
    return;
  }
  for (int j0 = firstColumn; j0 < lastColumn; j0 += NC) {
    const int nc = min_int(NC, lastColumn - j0);
    for (int k0 = 0; k0 < k; k0 += KC) {
      const int kc = min_int(KC, k - k0);
      pack_right(b, k0, kc, j0, nc, packedB);
      const int add = accumulate || k0 > 0;
      for (int i0 = firstRow; i0 < lastRow; i0 += MC) {
        const int mc = min_int(MC, lastRow - i0);
        pack_left(a, i0, mc, k0, kc, packedA);
        for (int jr = 0; jr < nc; jr += NR)
          for (int ir = 0; ir < mc; ir += MR)
            tile(kc, packedA + ir * kc, packedB + jr * kc, c + (i0 + ir) * ldc + j0 + jr, ldc, add,
                 min_int(MR, mc - ir), min_int(NR, nc - jr));
      }
    }
  }
}

static void gemm_rows(int first, int last, int n, int k, const Source *a, const Source *b, float *c, int ldc,
                      int accumulate, float *scratch) {
  gemm_block(first, last, 0, n, k, a, b, c, ldc, accumulate, scratch);
}

static void gemm(int m, int n, int k, const Source *a, const Source *b, float *c, int ldc, int accumulate,
                 float *scratch) {
  gemm_block(0, m, 0, n, k, a, b, c, ldc, accumulate, scratch);
}

static Source matrix(const float *data, int row, int col) {
  Source s = {SOURCE_MATRIX, data, row, col, 0};
  return s;
}

// The kernels below run as `parts` parts, any number of them at once on threads sharing the memory (see
// src/backend/wasm/pool.ts): part `part` of `parts` covers [share(part), share(part + 1)) of the work's units, and the
// thread running it packs its panels into its own slice of `scratch` (the `thread`th of gemm_scratch_floats()). Each
// output value is computed by one part, in the order one thread would compute it: results do not depend on `parts`.
static inline int share(int units, int part, int parts) { return (int)((long long)units * part / parts); }

static float *scratch_of(float *scratch, int thread) { return scratch + thread * gemm_scratch_floats(); }

// Batched [m×k]·[k×n] with either operand transposed (stored as [k×m] or [n×k]): parts split the batch, or the rows
// of a batch smaller than the parts.
EXPORT(matmul) void matmul(const float *a, const float *b, float *c, int batch, int m, int k, int n,
                            int transposeA, int transposeB, float *scratch, int thread, int part, int parts) {
  const int byBatch = batch >= parts;
  const int firstRow = byBatch ? 0 : share(m, part, parts), lastRow = byBatch ? m : share(m, part + 1, parts);
  const int first = byBatch ? share(batch, part, parts) : 0, last = byBatch ? share(batch, part + 1, parts) : batch;
  for (int i = first; i < last; i++) {
    const Source left = transposeA ? matrix(a + i * m * k, 1, m) : matrix(a + i * m * k, k, 1);
    const Source right = transposeB ? matrix(b + i * k * n, 1, k) : matrix(b + i * k * n, n, 1);
    gemm_rows(firstRow, lastRow, n, k, &left, &right, c + i * m * n, n, 0, scratch_of(scratch, thread));
  }
}

// y = conv(x, w) + bias, then + add, then ReLU, as ConvPostOps orders them. Per image and group: W_g · im2col(x).
// Parts split the images; a batch smaller than the parts (inference on one image) splits each image's output
// positions instead, in whole panels of NR.
EXPORT(conv2d) void conv2d(const Conv *g, const float *x, const float *w, const float *bias, const float *add,
                            int relu, float *y, float *scratch, int thread, int part, int parts) {
  const int inPerGroup = g->channels / g->groups, outPerGroup = g->outChannels / g->groups;
  const int depth = inPerGroup * g->kernelH * g->kernelW, positions = g->outH * g->outW;
  float *mine = scratch_of(scratch, thread);
  const int byImage = g->batch >= parts, panels = (positions + NR - 1) / NR;
  const int firstImage = byImage ? share(g->batch, part, parts) : 0;
  const int lastImage = byImage ? share(g->batch, part + 1, parts) : g->batch;
  const int first = byImage ? 0 : min_int(positions, share(panels, part, parts) * NR);
  const int last = byImage ? positions : min_int(positions, share(panels, part + 1, parts) * NR);
  for (int n = firstImage; n < lastImage; n++) {
    for (int group = 0; group < g->groups; group++) {
      const Source weights = matrix(w + group * outPerGroup * depth, depth, 1);
      const float *image = x + (n * g->channels + group * inPerGroup) * g->height * g->width;
      const Source columns = {SOURCE_IMAGE, image, 0, 0, g};
      float *out = y + (n * g->outChannels + group * outPerGroup) * positions;
      gemm_block(0, outPerGroup, first, last, depth, &weights, &columns, out, positions, 0, mine);
    }
    for (int o = 0; o < g->outChannels; o++) {
      float *row = y + (n * g->outChannels + o) * positions;
      const float *sum = add ? add + (n * g->outChannels + o) * positions : 0;
      const float shift = bias ? bias[o] : 0.0f;
      for (int p = first; p < last; p++) {
        float v = row[p] + shift;
        if (sum) v += sum[p];
        row[p] = relu ? (v > 0.0f ? v : 0.0f) : v;
      }
    }
  }
}

// dW_gᵀ = Σ_n im2col(x[n]) · dY_g[n]ᵀ, summed in `transposed` (depth × outChannels per group), then turned into dw:
// with im2col on the left, its panels pack from rows of the image. Parts split the rows (the depth), so that each
// value still sums the images in order.
EXPORT(conv2d_backward_filter) void conv2d_backward_filter(const Conv *g, const float *x, const float *dy, float *dw,
                                                            float *transposed, float *scratch, int thread, int part,
                                                            int parts) {
  const int inPerGroup = g->channels / g->groups, outPerGroup = g->outChannels / g->groups;
  const int depth = inPerGroup * g->kernelH * g->kernelW, positions = g->outH * g->outW;
  const int first = share(depth, part, parts), last = share(depth, part + 1, parts);
  float *mine = scratch_of(scratch, thread);
  for (int n = 0; n < g->batch; n++) {
    for (int group = 0; group < g->groups; group++) {
      const float *image = x + (n * g->channels + group * inPerGroup) * g->height * g->width;
      const Source columns = {SOURCE_IMAGE, image, 0, 0, g};
      const Source gradients = matrix(dy + (n * g->outChannels + group * outPerGroup) * positions, 1, positions);
      gemm_rows(first, last, outPerGroup, positions, &columns, &gradients, transposed + group * depth * outPerGroup,
                outPerGroup, n > 0, mine);
    }
  }
  for (int group = 0; group < g->groups; group++)
    for (int o = 0; o < outPerGroup; o++)
      for (int k = first; k < last; k++)
        dw[(group * outPerGroup + o) * depth + k] = transposed[(group * depth + k) * outPerGroup + o];
}

// dx[n] = col2im(W_gᵀ · dY_g[n]): the product for one image and group goes through `columns` (depth × positions per
// thread: the `thread`th such block). Parts split the images.
EXPORT(conv2d_backward_data) void conv2d_backward_data(const Conv *g, const float *dy, const float *w, float *dx,
                                                        float *columns, float *scratch, int thread, int part,
                                                        int parts) {
  const int inPerGroup = g->channels / g->groups, outPerGroup = g->outChannels / g->groups;
  const int depth = inPerGroup * g->kernelH * g->kernelW, positions = g->outH * g->outW;
  const int window = g->kernelH * g->kernelW, imageSize = g->channels * g->height * g->width;
  const int firstImage = share(g->batch, part, parts), lastImage = share(g->batch, part + 1, parts);
  float *mine = scratch_of(scratch, thread);
  columns += thread * depth * positions;
  __builtin_memset(dx + firstImage * imageSize, 0, sizeof(float) * (lastImage - firstImage) * imageSize);
  for (int n = firstImage; n < lastImage; n++) {
    for (int group = 0; group < g->groups; group++) {
      const Source weights = matrix(w + group * outPerGroup * depth, 1, depth);
      const Source gradients = matrix(dy + (n * g->outChannels + group * outPerGroup) * positions, positions, 1);
      gemm(depth, positions, outPerGroup, &weights, &gradients, columns, positions, 0, mine);
      float *image = dx + (n * g->channels + group * inPerGroup) * g->height * g->width;
      for (int k = 0; k < depth; k++) {
        const int c = k / window, di = ((k % window) / g->kernelW) * g->dilationH;
        const int dj = ((k % window) % g->kernelW) * g->dilationW;
        const float *row = columns + k * positions;
        float *plane = image + c * g->height * g->width;
        // The output columns whose input column lies inside the image: [first, last).
        const int shift = dj - g->padLeft;
        int first = 0;
        while (first < g->outW && first * g->strideW + shift < 0) first++;
        int last = g->outW;
        while (last > first && (last - 1) * g->strideW + shift >= g->width) last--;
        for (int oh = 0; oh < g->outH; oh++) {
          const int ih = oh * g->strideH - g->padTop + di;
          if ((u32)ih >= (u32)g->height) continue;
          float *target = plane + ih * g->width + shift;
          const float *source = row + oh * g->outW;
          int ow = first;
          if (g->strideW == 1)
            for (; ow + 4 <= last; ow += 4)
              wasm_v128_store(target + ow, wasm_f32x4_add(wasm_v128_load(target + ow), wasm_v128_load(source + ow)));
          for (; ow < last; ow++) target[ow * g->strideW] += source[ow];
        }
      }
    }
  }
}
