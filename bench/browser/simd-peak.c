// The WebAssembly SIMD peak, measured as bench/peak/fma-peak.c measures the CPU's: independent chains of
// multiply-adds on 128-bit vectors in registers (no memory traffic). WebAssembly SIMD128 has no fused multiply-add
// (only the relaxed-SIMD proposal does), so each step is f32x4.mul then f32x4.add, as the library's kernels issue
// them; one multiply-add counts as 2 FLOPs, as one FMA does there. bench/browser/bench.mjs compiles it with clang
// (wasm32, -O3 -msimd128) and the page times run(rounds), growing the rounds until a run takes its share of time.
#include <wasm_simd128.h>

#define CHAINS 12  // as fma-peak.c: enough independent chains to cover the add's latency on two ports

/** Lanes per vector × chains: the multiply-adds one round does, for the page's FLOP count. */
__attribute__((export_name("multiplyAddsPerRound"))) int multiply_adds_per_round(void) { return 4 * CHAINS; }

/** `rounds` rounds of CHAINS vector multiply-adds; returns their sum so that nothing is optimised away. */
__attribute__((export_name("run"))) float run(int rounds) {
  v128_t acc[CHAINS];
  const v128_t a = wasm_f32x4_splat(0.999999f), b = wasm_f32x4_splat(1e-7f);
  for (int i = 0; i < CHAINS; i++) acc[i] = wasm_f32x4_splat((float)i);
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < CHAINS; i++) acc[i] = wasm_f32x4_add(wasm_f32x4_mul(acc[i], a), b);
  }
  float sink = 0;
  for (int i = 0; i < CHAINS; i++)
    sink += wasm_f32x4_extract_lane(acc[i], 0) + wasm_f32x4_extract_lane(acc[i], 1) +
            wasm_f32x4_extract_lane(acc[i], 2) + wasm_f32x4_extract_lane(acc[i], 3);
  return sink;
}
