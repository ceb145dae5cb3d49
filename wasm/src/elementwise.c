// Elementwise kernels, four lanes at a time with a scalar tail. Each matches the reference backend's rule exactly
// (comparisons select as its ternaries do, so NaN goes where it goes there), except exp-based ops, which agree to
// about 1e-6 relative.
#include "kernels.h"

// Codes shared with src/backend/wasm/index.ts (unaryCodes, binaryCodes, activationCodes).
enum { NEG, ABS, EXP, SQRT, SQUARE, RECIPROCAL, RELU, SIGMOID, TANH, SCALED_TANH, SIGN };
enum { ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM, EQUAL, GREATER, LESS };
enum { ACT_RELU, ACT_SIGMOID, ACT_TANH, ACT_SCALED_TANH };

#define LECUN_A 1.7159f
#define LECUN_S (2.0f / 3.0f)

static inline v128_t sigmoid4(v128_t x) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  return wasm_f32x4_div(one, wasm_f32x4_add(one, exp_f32x4(wasm_f32x4_neg(x))));
}

// tanh(x) = 1 − 2/(e^{2x} + 1); below |x| = 0.0625 the odd series x − x³/3 + 2x⁵/15 keeps the relative error small.
static inline v128_t tanh4(v128_t x) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  const v128_t viaExp = wasm_f32x4_sub(one, wasm_f32x4_div(wasm_f32x4_splat(2.0f),
                                                           wasm_f32x4_add(exp_f32x4(wasm_f32x4_add(x, x)), one)));
  const v128_t x2 = wasm_f32x4_mul(x, x);
  v128_t series = wasm_f32x4_add(wasm_f32x4_splat(-1.0f / 3.0f), wasm_f32x4_mul(x2, wasm_f32x4_splat(2.0f / 15.0f)));
  series = wasm_f32x4_add(x, wasm_f32x4_mul(wasm_f32x4_mul(x, x2), series));
  return wasm_v128_bitselect(series, viaExp, wasm_f32x4_lt(wasm_f32x4_abs(x), wasm_f32x4_splat(0.0625f)));
}

static inline v128_t unary4(int op, v128_t x) {
  const v128_t zero = wasm_f32x4_splat(0.0f), one = wasm_f32x4_splat(1.0f);
  switch (op) {
    case NEG: return wasm_f32x4_neg(x);
    case ABS: return wasm_f32x4_abs(x);
    case EXP: return exp_f32x4(x);
    case SQRT: return wasm_f32x4_sqrt(x);
    case SQUARE: return wasm_f32x4_mul(x, x);
    case RECIPROCAL: return wasm_f32x4_div(one, x);
    case RELU: return wasm_v128_and(x, wasm_f32x4_gt(x, zero));
    case SIGMOID: return sigmoid4(x);
    case TANH: return tanh4(x);
    case SCALED_TANH: return wasm_f32x4_mul(wasm_f32x4_splat(LECUN_A), tanh4(wasm_f32x4_mul(x, wasm_f32x4_splat(LECUN_S))));
    default: {  // SIGN: ±1, and x itself for ±0 and NaN (Math.sign)
      const v128_t sign = wasm_v128_or(wasm_v128_and(x, wasm_i32x4_splat((int)0x80000000)), one);
      return wasm_v128_bitselect(sign, x, wasm_v128_or(wasm_f32x4_gt(x, zero), wasm_f32x4_lt(x, zero)));
    }
  }
}

EXPORT(unary) void unary(int op, const float *x, float *y, int size) {
  int i = 0;
  for (; i + 4 <= size; i += 4) wasm_v128_store(y + i, unary4(op, wasm_v128_load(x + i)));
  for (; i < size; i++) y[i] = wasm_f32x4_extract_lane(unary4(op, wasm_f32x4_splat(x[i])), 0);
}

static inline v128_t derivative4(int op, v128_t x, v128_t y) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  switch (op) {
    case ACT_RELU: return wasm_v128_and(one, wasm_f32x4_gt(x, wasm_f32x4_splat(0.0f)));
    case ACT_SIGMOID: return wasm_f32x4_mul(y, wasm_f32x4_sub(one, y));
    case ACT_TANH: return wasm_f32x4_sub(one, wasm_f32x4_mul(y, y));
    default:
      return wasm_f32x4_mul(wasm_f32x4_splat(LECUN_S),
                            wasm_f32x4_sub(wasm_f32x4_splat(LECUN_A),
                                           wasm_f32x4_div(wasm_f32x4_mul(y, y), wasm_f32x4_splat(LECUN_A))));
  }
}

EXPORT(activation_backward) void activation_backward(int op, const float *x, const float *y, const float *dy,
                                                      float *dx, int size) {
  int i = 0;
  for (; i + 4 <= size; i += 4)
    wasm_v128_store(dx + i, wasm_f32x4_mul(wasm_v128_load(dy + i),
                                           derivative4(op, wasm_v128_load(x + i), wasm_v128_load(y + i))));
  for (; i < size; i++)
    dx[i] = dy[i] * wasm_f32x4_extract_lane(derivative4(op, wasm_f32x4_splat(x[i]), wasm_f32x4_splat(y[i])), 0);
}

static inline v128_t binary4(int op, v128_t a, v128_t b) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  switch (op) {
    case ADD: return wasm_f32x4_add(a, b);
    case SUB: return wasm_f32x4_sub(a, b);
    case MUL: return wasm_f32x4_mul(a, b);
    case DIV: return wasm_f32x4_div(a, b);
    case MAXIMUM: return wasm_v128_bitselect(a, b, wasm_f32x4_ge(a, b));
    case MINIMUM: return wasm_v128_bitselect(a, b, wasm_f32x4_le(a, b));
    case EQUAL: return wasm_v128_and(one, wasm_f32x4_eq(a, b));
    case GREATER: return wasm_v128_and(one, wasm_f32x4_gt(a, b));
    default: return wasm_v128_and(one, wasm_f32x4_lt(a, b));
  }
}

// One innermost row: a and b advance by their strides (1, or 0 where broadcast).
static void binary_row(int op, const float *a, int aStride, const float *b, int bStride, float *out, int length) {
  int i = 0;
  if (aStride == 1 && bStride == 1) {
    for (; i + 4 <= length; i += 4)
      wasm_v128_store(out + i, binary4(op, wasm_v128_load(a + i), wasm_v128_load(b + i)));
  } else if (aStride == 1 && bStride == 0) {
    const v128_t scalar = wasm_f32x4_splat(b[0]);
    for (; i + 4 <= length; i += 4) wasm_v128_store(out + i, binary4(op, wasm_v128_load(a + i), scalar));
  } else if (aStride == 0 && bStride == 1) {
    const v128_t scalar = wasm_f32x4_splat(a[0]);
    for (; i + 4 <= length; i += 4) wasm_v128_store(out + i, binary4(op, scalar, wasm_v128_load(b + i)));
  }
  for (; i < length; i++)
    out[i] = wasm_f32x4_extract_lane(
        binary4(op, wasm_f32x4_splat(a[i * aStride]), wasm_f32x4_splat(b[i * bStride])), 0);
}

// NumPy broadcasting over `rank` dimensions (at most 16): outShape, then a's and b's strides (0 where broadcast),
// as 3·rank int32s at `geometry`.
EXPORT(binary) void binary(int op, const float *a, const float *b, float *out, int rank, const int *geometry) {
  const int *shape = geometry, *aStrides = geometry + rank, *bStrides = geometry + 2 * rank;
  const int length = shape[rank - 1];
  int index[16] = {0};
  int rows = 1;
  for (int d = 0; d < rank - 1; d++) rows *= shape[d];
  int ai = 0, bi = 0;
  for (int r = 0; r < rows; r++) {
    binary_row(op, a + ai, aStrides[rank - 1], b + bi, bStrides[rank - 1], out + r * length, length);
    for (int d = rank - 2; d >= 0; d--) {
      index[d]++;
      ai += aStrides[d];
      bi += bStrides[d];
      if (index[d] < shape[d]) break;
      ai -= aStrides[d] * shape[d];
      bi -= bStrides[d] * shape[d];
      index[d] = 0;
    }
  }
}

EXPORT(axpby) void axpby(float alpha, const float *x, float beta, const float *y, float *out, int size) {
  const v128_t a = wasm_f32x4_splat(alpha), b = wasm_f32x4_splat(beta);
  int i = 0;
  for (; i + 4 <= size; i += 4)
    wasm_v128_store(out + i, wasm_f32x4_add(wasm_f32x4_mul(a, wasm_v128_load(x + i)),
                                            wasm_f32x4_mul(b, wasm_v128_load(y + i))));
  for (; i < size; i++) out[i] = alpha * x[i] + beta * y[i];
}
