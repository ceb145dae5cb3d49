// The WebAssembly SIMD peak, measured as bench/peak/fma-peak.c measures the CPU's: independent chains of
// multiply-adds on 128-bit vectors in registers (no memory traffic). bench/browser/site.mjs compiles it twice with
// clang (wasm32, -O3 -msimd128), as wasm/build.mjs builds the library's kernels: baseline SIMD128, which has no fused
// multiply-add, so each step is f32x4.mul then f32x4.add; and with -mrelaxed-simd, where each step is one
// f32x4.relaxed_madd (one FMA instruction on a CPU that has it; the draft opcode clang 14 emits is rewritten by
// wasm/relaxed-simd.mjs). One multiply-add counts as 2 FLOPs, as one FMA does in fma-peak.c. The page times
// run(rounds), growing the rounds until a run takes its share of time.
#include <wasm_simd128.h>

#define CHAINS 12  // as fma-peak.c: enough independent chains to cover the latency on two ports

/** Lanes per vector × chains: the multiply-adds one round does, for the page's FLOP count. */
__attribute__((export_name("multiplyAddsPerRound"))) int multiply_adds_per_round(void) { return 4 * CHAINS; }

static inline v128_t multiply_add(v128_t acc, v128_t a, v128_t b) {
#ifdef __wasm_relaxed_simd__
  return (v128_t)__builtin_wasm_fma_f32x4((__f32x4)acc, (__f32x4)a, (__f32x4)b);  // acc·a + b
#else
  return wasm_f32x4_add(wasm_f32x4_mul(acc, a), b);
#endif
}

/** `rounds` rounds of CHAINS vector multiply-adds; returns their sum so that nothing is optimised away. */
__attribute__((export_name("run"))) float run(int rounds) {
  v128_t acc[CHAINS];
  const v128_t a = wasm_f32x4_splat(0.999999f), b = wasm_f32x4_splat(1e-7f);
  for (int i = 0; i < CHAINS; i++) acc[i] = wasm_f32x4_splat((float)i);
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < CHAINS; i++) acc[i] = multiply_add(acc[i], a, b);
  }
  float sink = 0;
  for (int i = 0; i < CHAINS; i++)
    sink += wasm_f32x4_extract_lane(acc[i], 0) + wasm_f32x4_extract_lane(acc[i], 1) +
            wasm_f32x4_extract_lane(acc[i], 2) + wasm_f32x4_extract_lane(acc[i], 3);
  return sink;
}
