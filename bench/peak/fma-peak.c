// Measures the machine's single-precision FMA peak: each thread runs independent chains of fused multiply-adds
// in registers (no memory traffic), AVX-512 where the CPU has it, else AVX2. Prints GFLOP/s (1 FMA = 2 FLOPs) for
// 1 thread and for the requested number of threads, the best of 5 runs each (least disturbed by other work), as
// JSON on the last line.
// Build: cc -O3 -fopenmp bench/peak/fma-peak.c -o build/fma-peak    Run: build/fma-peak [threads] [seconds]
// (-O3: at -O2 GCC keeps the accumulators in memory and measures a tenth of the peak.)
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define CHAINS 12  // enough independent chains to cover the FMA latency on two ports
#define ROUNDS 100000

__attribute__((target("avx512f"))) static double run512(long rounds) {
  __m512 acc[CHAINS];
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  float sink = 0;
  for (int i = 0; i < CHAINS; i++) sink += _mm512_reduce_add_ps(acc[i]);
  return sink;
}

__attribute__((target("avx2,fma"))) static double run256(long rounds) {
  __m256 acc[CHAINS];
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps((float)i);
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  float lanes[8], sink = 0;
  for (int i = 0; i < CHAINS; i++) {
    _mm256_storeu_ps(lanes, acc[i]);
    for (int j = 0; j < 8; j++) sink += lanes[j];
  }
  return sink;
}

/** GFLOP/s of `threads` threads each running FMA chains for about `seconds`. */
static double measure(int threads, double seconds, int avx512) {
  const int lanes = avx512 ? 16 : 8;
  long rounds = ROUNDS;
  double sink = 0, elapsed = 0;
  // Grow the work until one run takes the requested time.
  for (;;) {
    double start = omp_get_wtime();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += avx512 ? run512(rounds) : run256(rounds);
    elapsed = omp_get_wtime() - start;
    if (elapsed >= seconds) break;
    rounds *= elapsed > 0.01 ? (long)(seconds / elapsed * 1.1) + 1 : 10;
  }
  if (sink == 12345.0) printf(" ");  // keep the result alive
  return 2.0 * lanes * CHAINS * (double)rounds * threads / elapsed / 1e9;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : omp_get_num_procs();
  const double seconds = argc > 2 ? atof(argv[2]) : 1.0;
  __builtin_cpu_init();
  const int avx512 = __builtin_cpu_supports("avx512f");
  double one = 0, all = 0;
  for (int run = 0; run < 5; run++) {
    const double a = measure(1, seconds / 5, avx512), b = measure(threads, seconds / 5, avx512);
    one = a > one ? a : one;
    all = b > all ? b : all;
  }
  printf("FMA peak (%s): %.1f GFLOP/s on 1 thread, %.1f GFLOP/s on %d threads\n", avx512 ? "AVX-512" : "AVX2", one,
         all, threads);
  printf("{\"isa\":\"%s\",\"gflopsOneThread\":%.1f,\"gflops\":%.1f,\"threads\":%d}\n", avx512 ? "avx512" : "avx2", one,
         all, threads);
  return 0;
}
