// Sum, max and min over any set of axes, kept as size-1 dimensions. Sums run in float64 (into `sums`, one per
// output), as the reference backend's do; max and min let NaN win, as its comparisons do.
#include "kernels.h"

enum { SUM, MAX, MIN };

// The input shape, then each dimension's output stride (0 along reduced axes), as 2·rank int32s at `geometry`.
EXPORT(reduce) void reduce(int op, const float *x, float *out, double *sums, int outSize, int rank,
                           const int *geometry) {
  const int *shape = geometry, *outStrides = geometry + rank;
  const int length = shape[rank - 1], step = outStrides[rank - 1];
  for (int o = 0; o < outSize; o++) {
    sums[o] = 0.0;
    out[o] = op == MAX ? -__builtin_inff() : __builtin_inff();
  }
  int index[16] = {0};
  int rows = 1;
  for (int d = 0; d < rank - 1; d++) rows *= shape[d];
  int at = 0;
  for (int r = 0; r < rows; r++) {
    const float *row = x + r * length;
    if (op == SUM) {
      if (step == 0) {
        double total = 0.0;
        for (int i = 0; i < length; i++) total += row[i];
        sums[at] += total;
      } else
        for (int i = 0; i < length; i++) sums[at + i] += row[i];
    } else {
      for (int i = 0; i < length; i++) {
        float *target = out + at + i * step;
        const float v = row[i];
        if (op == MAX ? (v > *target || v != v) : (v < *target || v != v)) *target = v;
      }
    }
    for (int d = rank - 2; d >= 0; d--) {
      index[d]++;
      at += outStrides[d];
      if (index[d] < shape[d]) break;
      at -= outStrides[d] * shape[d];
      index[d] = 0;
    }
  }
  if (op == SUM)
    for (int o = 0; o < outSize; o++) out[o] = (float)sums[o];
}
