// Softmax and log-softmax along one axis of a shape seen as [outer, length, inner]; the inner values sharing an
// outer index go side by side, so every loop reads contiguously. Sums in float64, as the reference backend's.
#include "kernels.h"

// log for a positive finite sum ≥ 1 (the shifted sum always is): the exponent, then a series for the mantissa m in
// [√½, √2): log m = 2·atanh((m−1)/(m+1)).
static double log_sum(double sum) {
  union { double d; unsigned long long bits; } u = {sum};
  int exponent = (int)((u.bits >> 52) & 0x7ff) - 1023;
  u.bits = (u.bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m = u.d;
  if (m > 1.4142135623730951) m *= 0.5, exponent++;
  const double t = (m - 1.0) / (m + 1.0), t2 = t * t;
  double series = 0.0;
  for (int k = 19; k >= 1; k -= 2) series = series * t2 + 1.0 / k;
  return exponent * 0.6931471805599453 + 2.0 * t * series;
}

EXPORT(softmax) void softmax(const float *x, float *y, int outer, int length, int inner, int log, double *sums,
                             float *maxima) {
  for (int o = 0; o < outer; o++) {
    const float *in = x + o * length * inner;
    float *out = y + o * length * inner;
    for (int i = 0; i < inner; i++) maxima[i] = -__builtin_inff(), sums[i] = 0.0;
    for (int a = 0; a < length; a++)
      for (int i = 0; i < inner; i++) {
        const float v = in[a * inner + i];
        maxima[i] = (v > maxima[i] || v != v) ? v : maxima[i];
      }
    for (int a = 0; a < length; a++)
      for (int i = 0; i < inner; i++) {
        const float e = exp_f32(in[a * inner + i] - maxima[i]);
        out[a * inner + i] = e;
        sums[i] += e;
      }
    for (int a = 0; a < length; a++)
      for (int i = 0; i < inner; i++) {
        const int at = a * inner + i;
        out[at] = log ? (float)((in[at] - maxima[i]) - log_sum(sums[i])) : (float)(out[at] / sums[i]);
      }
  }
}

// y · (dy − Σ dy·y) for softmax, dy − exp(y) · Σ dy for log-softmax.
EXPORT(softmax_backward) void softmax_backward(const float *y, const float *dy, float *dx, int outer, int length,
                                               int inner, int log, double *sums) {
  for (int o = 0; o < outer; o++) {
    const int base = o * length * inner;
    for (int i = 0; i < inner; i++) sums[i] = 0.0;
    for (int a = 0; a < length; a++)
      for (int i = 0; i < inner; i++) {
        const int at = base + a * inner + i;
        sums[i] += log ? dy[at] : dy[at] * y[at];
      }
    for (int a = 0; a < length; a++)
      for (int i = 0; i < inner; i++) {
        const int at = base + a * inner + i;
        dx[at] = log ? (float)(dy[at] - exp_f32(y[at]) * sums[i]) : (float)(y[at] * (dy[at] - sums[i]));
      }
  }
}
