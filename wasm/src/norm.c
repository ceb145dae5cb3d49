// Batch normalisation over N and the spatial axes, for [N, C, ...] input seen as [batch, channels, inner]. Sums
// run in float64, as the reference backend's do, so the statistics agree to float32 rounding.
#include "kernels.h"

static double channel_sum(const float *x, int batch, int channels, int inner, int c) {
  double total = 0.0;
  for (int n = 0; n < batch; n++) {
    const float *row = x + (n * channels + c) * inner;
    for (int s = 0; s < inner; s++) total += row[s];
  }
  return total;
}

static void affine(const float *x, float *y, int batch, int channels, int inner, int c, double mean, double scale,
                   double shift) {
  for (int n = 0; n < batch; n++) {
    const int start = (n * channels + c) * inner;
    for (int s = 0; s < inner; s++) y[start + s] = (float)((x[start + s] - mean) * scale + shift);
  }
}

EXPORT(batch_norm_training) void batch_norm_training(const float *x, int batch, int channels, int inner,
                                                      const float *gamma, const float *beta, float eps, float *y,
                                                      float *mean, float *variance) {
  const double count = (double)batch * inner;
  for (int c = 0; c < channels; c++) {
    const double mu = channel_sum(x, batch, channels, inner, c) / count;
    double squares = 0.0;
    for (int n = 0; n < batch; n++) {
      const float *row = x + (n * channels + c) * inner;
      for (int s = 0; s < inner; s++) squares += (row[s] - mu) * (row[s] - mu);
    }
    const double var = squares / count;
    affine(x, y, batch, channels, inner, c, mu, gamma[c] / __builtin_sqrt(var + eps), beta[c]);
    mean[c] = (float)mu;
    variance[c] = (float)var;
  }
}

EXPORT(batch_norm_inference) void batch_norm_inference(const float *x, int batch, int channels, int inner,
                                                        const float *gamma, const float *beta, const float *mean,
                                                        const float *variance, float eps, float *y) {
  for (int c = 0; c < channels; c++)
    affine(x, y, batch, channels, inner, c, mean[c], gamma[c] / __builtin_sqrt((double)variance[c] + eps), beta[c]);
}

// dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)) (Ioffe & Szegedy 2015, section 3); dγ = Σ dy·x̂, dβ = Σ dy.
EXPORT(batch_norm_backward) void batch_norm_backward(const float *x, const float *dy, int batch, int channels,
                                                      int inner, const float *gamma, const float *mean,
                                                      const float *variance, float eps, float *dx, float *dgamma,
                                                      float *dbeta) {
  const double count = (double)batch * inner;
  for (int c = 0; c < channels; c++) {
    const double invStd = 1.0 / __builtin_sqrt((double)variance[c] + eps), mu = mean[c];
    double sumDy = 0.0, sumDyXhat = 0.0;
    for (int n = 0; n < batch; n++) {
      const int start = (n * channels + c) * inner;
      for (int s = 0; s < inner; s++) {
        sumDy += dy[start + s];
        sumDyXhat += dy[start + s] * (x[start + s] - mu) * invStd;
      }
    }
    dbeta[c] = (float)sumDy;
    dgamma[c] = (float)sumDyXhat;
    const double meanDy = sumDy / count, meanDyXhat = sumDyXhat / count, scale = gamma[c] * invStd;
    for (int n = 0; n < batch; n++) {
      const int start = (n * channels + c) * inner;
      for (int s = 0; s < inner; s++)
        dx[start + s] = (float)(scale * (dy[start + s] - meanDy - (x[start + s] - mu) * invStd * meanDyXhat));
    }
  }
}
