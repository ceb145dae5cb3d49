// Shared by the kernels of the wasm backend: freestanding C for clang's wasm32 target with 128-bit SIMD, no libc.
// Every pointer is an offset into the backend instance's own WebAssembly.Memory; the TypeScript side allocates.
#pragma once
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

typedef unsigned int u32;


static inline int min_int(int a, int b) { return a < b ? a : b; }
static inline int max_int(int a, int b) { return a > b ? a : b; }

// acc + a·b on four lanes. In the relaxed-SIMD build (wasm/build.mjs, -mrelaxed-simd) one f32x4.relaxed_madd, which
// a runtime may fuse (one FMA instruction where the CPU has one: x86 with FMA3, ARM) or not; elsewhere a multiply
// then an add, as baseline WebAssembly SIMD has no fused multiply-add. clang 14 knows the instruction only by its
// draft name, f32x4.fma; the build rewrites its opcode into the standard one (wasm/relaxed-simd.mjs).
static inline v128_t madd_f32x4(v128_t acc, v128_t a, v128_t b) {
#if defined(__wasm_relaxed_simd__) && __has_builtin(__builtin_wasm_relaxed_madd_f32x4)
  return (v128_t)__builtin_wasm_relaxed_madd_f32x4((__f32x4)a, (__f32x4)b, (__f32x4)acc);
#elif defined(__wasm_relaxed_simd__)
  return (v128_t)__builtin_wasm_fma_f32x4((__f32x4)a, (__f32x4)b, (__f32x4)acc);
#else
  return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b));
#endif
}

// e^x for float32 lanes: Cody-Waite range reduction x = n·ln2 + r and a degree-6 polynomial for e^r (relative
// error about 2e-7); saturates to 0 and +inf outside [-104, 89]. NaN stays NaN.
static inline v128_t exp_f32x4(v128_t x) {
  const v128_t clamped = wasm_f32x4_min(wasm_f32x4_max(x, wasm_f32x4_splat(-104.0f)), wasm_f32x4_splat(89.0f));
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(clamped, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(clamped, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), wasm_f32x4_add(r, wasm_f32x4_splat(1.0f)));
  // 2^n in two halves, so n = 128 (e^89 rounds to it) does not overflow the exponent field.
  const v128_t half = wasm_i32x4_shr(wasm_i32x4_trunc_sat_f32x4(n), 1);
  const v128_t rest = wasm_i32x4_sub(wasm_i32x4_trunc_sat_f32x4(n), half);
  const v128_t bias = wasm_i32x4_splat(127);
  p = wasm_f32x4_mul(p, wasm_i32x4_shl(wasm_i32x4_add(half, bias), 23));
  p = wasm_f32x4_mul(p, wasm_i32x4_shl(wasm_i32x4_add(rest, bias), 23));
  // NaN in, NaN out (the clamp above turned it into a number).
  return wasm_v128_bitselect(x, p, wasm_f32x4_ne(x, x));
}

static inline float exp_f32(float x) { return wasm_f32x4_extract_lane(exp_f32x4(wasm_f32x4_splat(x)), 0); }
