// The wasm backend's GEMM register tile (wasm/src/gemm.c: 4×8 floats, a splat of A times two vectors of B per row),
// repeated over packed panels that stay in cache: what clang's wasm32 code reaches, for run.mjs beside it.
#include <wasm_simd128.h>

__attribute__((export_name("tiles"))) void tiles(int kc, const float *a, const float *b, float *c, int repeats) {
  for (int r = 0; r < repeats; r++) {
    v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    const float *pa = a, *pb = b;
    for (int k = 0; k < kc; k++) {
      const v128_t b0 = wasm_v128_load(pb), b1 = wasm_v128_load(pb + 4);
      v128_t a0 = wasm_f32x4_splat(pa[0]);
      c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(a0, b0)), c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(a0, b1));
      a0 = wasm_f32x4_splat(pa[1]);
      c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(a0, b0)), c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(a0, b1));
      a0 = wasm_f32x4_splat(pa[2]);
      c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(a0, b0)), c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(a0, b1));
      a0 = wasm_f32x4_splat(pa[3]);
      c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(a0, b0)), c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(a0, b1));
      pa += 4, pb += 8;
    }
    wasm_v128_store(c, c00), wasm_v128_store(c + 4, c01), wasm_v128_store(c + 8, c10), wasm_v128_store(c + 12, c11);
    wasm_v128_store(c + 16, c20), wasm_v128_store(c + 20, c21), wasm_v128_store(c + 24, c30);
    wasm_v128_store(c + 28, c31);
  }
}
