// AssemblyScript: the same register tile as tile.c, in its SIMD builtins, for run.mjs beside it.
export function tiles(kc: i32, a: usize, b: usize, c: usize, repeats: i32): void {
  for (let r = 0; r < repeats; r++) {
    let c00 = f32x4.splat(0);
    let c01 = c00;
    let c10 = c00;
    let c11 = c00;
    let c20 = c00;
    let c21 = c00;
    let c30 = c00;
    let c31 = c00;
    let pa = a;
    let pb = b;
    for (let k = 0; k < kc; k++) {
      const b0 = v128.load(pb);
      const b1 = v128.load(pb, 16);
      let a0 = f32x4.splat(load<f32>(pa));
      c00 = f32x4.add(c00, f32x4.mul(a0, b0));
      c01 = f32x4.add(c01, f32x4.mul(a0, b1));
      a0 = f32x4.splat(load<f32>(pa, 4));
      c10 = f32x4.add(c10, f32x4.mul(a0, b0));
      c11 = f32x4.add(c11, f32x4.mul(a0, b1));
      a0 = f32x4.splat(load<f32>(pa, 8));
      c20 = f32x4.add(c20, f32x4.mul(a0, b0));
      c21 = f32x4.add(c21, f32x4.mul(a0, b1));
      a0 = f32x4.splat(load<f32>(pa, 12));
      c30 = f32x4.add(c30, f32x4.mul(a0, b0));
      c31 = f32x4.add(c31, f32x4.mul(a0, b1));
      pa += 16;
      pb += 32;
    }
    v128.store(c, c00);
    v128.store(c, c01, 16);
    v128.store(c, c10, 32);
    v128.store(c, c11, 48);
    v128.store(c, c20, 64);
    v128.store(c, c21, 80);
    v128.store(c, c30, 96);
    v128.store(c, c31, 112);
  }
}
