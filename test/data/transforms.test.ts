// Every transform on small known images, checking output pixels. Random transforms are driven by a
// ScriptedGenerator (forced draws) or compared with the deterministic function at the same drawn parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError, ValueError } from '../../src/errors.js';
import { Generator } from '../../src/tensor/random.js';
import { arrayDataset } from '../../src/data/datasets/dataset.js';
import * as transforms from '../../src/data/transforms/index.js';
import * as F from '../../src/data/transforms/functional.js';
import type { ChwImage } from '../../src/data/image.js';
import { assertClose, assertImage, image, nested, ramp, ScriptedGenerator } from './helpers.js';

const { makeTransform } = transforms;

/** Applies a descriptor that yields one image. */
function apply(
  spec: transforms.TransformSpec,
  input: ChwImage,
  generator: Generator = new Generator(0),
): ChwImage {
  const outputs = makeTransform(spec)(input, generator);
  assert.equal(outputs.length, 1);
  return outputs[0];
}

/** A uniform() value that makes generator.int(n) return k. */
const intDraw = (k: number, n: number): number => (k + 0.5) / n;

test('flips a 2×3 ramp horizontally and vertically, per channel', () => {
  const input = image([
    [
      [0, 1, 2],
      [3, 4, 5],
    ],
    [
      [6, 7, 8],
      [9, 10, 11],
    ],
  ]);
  assert.deepEqual(nested(F.horizontalFlip(input)), [
    [
      [2, 1, 0],
      [5, 4, 3],
    ],
    [
      [8, 7, 6],
      [11, 10, 9],
    ],
  ]);
  assert.deepEqual(nested(F.verticalFlip(input)), [
    [
      [3, 4, 5],
      [0, 1, 2],
    ],
    [
      [9, 10, 11],
      [6, 7, 8],
    ],
  ]);
});

test('random flips flip when the draw is below p, and only then', () => {
  const input = ramp(1, 2, 3);
  const flip = transforms.randomHorizontalFlip(0.5);
  assert.deepEqual(apply(flip, input, new ScriptedGenerator([0.49])).data, F.horizontalFlip(input).data);
  assert.deepEqual(apply(flip, input, new ScriptedGenerator([0.5])).data, input.data);
  const vertical = transforms.randomVerticalFlip(0.25);
  assert.deepEqual(apply(vertical, input, new ScriptedGenerator([0.2])).data, F.verticalFlip(input).data);
  assert.deepEqual(apply(vertical, input, new ScriptedGenerator([0.3])).data, input.data);
  assert.deepEqual(
    apply(transforms.randomHorizontalFlip(0), input, new ScriptedGenerator([0])).data,
    input.data,
  );
});

test('random crop with zero padding at a forced offset', () => {
  const input = image([
    [
      [1, 2],
      [3, 4],
    ],
  ]);
  const spec = transforms.randomCrop(2, { padding: 1 });
  // Padded to 4×4; top = int(3) → 1, left = int(3) → 0.
  const generator = new ScriptedGenerator([intDraw(1, 3), intDraw(0, 3)]);
  assert.deepEqual(nested(apply(spec, input, generator)), [
    [
      [0, 1],
      [0, 3],
    ],
  ]);
  assert.equal(generator.used, 2);
  const corner = apply(spec, input, new ScriptedGenerator([intDraw(2, 3), intDraw(2, 3)]));
  assert.deepEqual(nested(corner), [
    [
      [4, 0],
      [0, 0],
    ],
  ]);
});

test('random crop with reflect padding, and with fill colour', () => {
  const input = image([
    [
      [1, 2],
      [3, 4],
    ],
  ]);
  // Reflect (no edge repeat): rows [4 3 4 3], [2 1 2 1], [4 3 4 3], [2 1 2 1].
  const reflect = transforms.randomCrop(2, { padding: 1, mode: 'reflect' });
  assert.deepEqual(nested(apply(reflect, input, new ScriptedGenerator([intDraw(1, 3), intDraw(0, 3)]))), [
    [
      [2, 1],
      [4, 3],
    ],
  ]);
  const filled = transforms.randomCrop([2, 3], { padding: [1, 0], fill: 9 });
  assert.deepEqual(nested(apply(filled, input, new ScriptedGenerator([intDraw(0, 1), intDraw(1, 2)]))), [
    [
      [1, 2, 9],
      [3, 4, 9],
    ],
  ]);
  // A crop the size of the image draws nothing.
  const generator = new ScriptedGenerator([]);
  assert.deepEqual(apply(transforms.randomCrop(2), input, generator).data, input.data);
  assert.throws(() => apply(transforms.randomCrop(3), input), ShapeError);
  // padIfNeeded pads both sides by the shortfall, as torchvision does (to 4×4 here), then draws the offset.
  const generator2 = new ScriptedGenerator([intDraw(0, 2), intDraw(1, 2)]);
  const padded = apply(transforms.randomCrop(3, { padIfNeeded: true }), input, generator2);
  assert.deepEqual(nested(padded), [
    [
      [0, 0, 0],
      [1, 2, 0],
      [3, 4, 0],
    ],
  ]);
});

test('pad, centre crop and normalise on known pixels', () => {
  const input = ramp(1, 2, 2);
  assert.deepEqual(nested(F.pad(input, [1, 0], { mode: 'edge' })), [
    [
      [0, 0, 1, 1],
      [2, 2, 3, 3],
    ],
  ]);
  assert.deepEqual(nested(apply(transforms.pad(1, { fill: 7 }), ramp(1, 1, 1))), [
    [
      [7, 7, 7],
      [7, 0, 7],
      [7, 7, 7],
    ],
  ]);
  // Centre of a 4×4 ramp; (4 - 2) / 2 = 1.
  assert.deepEqual(nested(apply(transforms.centerCrop(2), ramp(1, 4, 4))), [
    [
      [5, 6],
      [9, 10],
    ],
  ]);
  const rgb = image([[[1, 3]], [[2, 4]], [[0, 1]]]);
  assertImage(apply(transforms.normalize([1, 2, 0.5], [2, 0.5, 0.25]), rgb), [3, 1, 2], [0, 1, 0, 4, -2, 2]);
});

test('resize 2×2 → 4×4 is bilinear with align_corners=False (PyTorch, no antialias)', () => {
  const input = image([
    [
      [1, 2],
      [3, 4],
    ],
  ]);
  // Source positions max(0, (d + 0.5)/2 - 0.5) = 0, 0.25, 0.75, 1.25 → clamped to 1.
  assertImage(
    apply(transforms.resize([4, 4]), input),
    [1, 4, 4],
    [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4],
  );
  // One number sets the smaller edge: 2×4 → 3×6.
  assert.deepEqual(F.resizeTarget(2, 4, 3), [3, 6]);
  assert.deepEqual(F.resizeTarget(5, 2, 4), [10, 4]);
  assert.equal(apply(transforms.resize(2), input), input);
});

test('rotation by 90° of a 3×3 image is its transpose flipped upside down', () => {
  const input = ramp(1, 3, 3);
  const transposed = image([
    [
      [0, 3, 6],
      [1, 4, 7],
      [2, 5, 8],
    ],
  ]);
  assertImage(F.rotate(input, 90), [1, 3, 3], F.verticalFlip(transposed).data, 1e-6);
  assertImage(F.rotate(input, -90), [1, 3, 3], F.horizontalFlip(transposed).data, 1e-6);
  assertImage(F.rotate(input, 180), [1, 3, 3], F.verticalFlip(F.horizontalFlip(input)).data, 1e-6);
  // randomRotation draws one angle: -90 + 180 · 0.75 = 45.
  const generator = new ScriptedGenerator([0.75]);
  assertImage(apply(transforms.randomRotation(90), input, generator), [1, 3, 3], F.rotate(input, 45).data, 0);
});

test('rotation fills outside the image with the fill colour', () => {
  // A 2×2 image turned 45°: every output centre lies inside, but its corners' neighbours fall outside.
  const ones = image([
    [
      [1, 1],
      [1, 1],
    ],
  ]);
  const withZero = F.rotate(ones, 45, 0);
  const withOne = F.rotate(ones, 45, 1);
  assert.ok(withZero.data.every((v) => v < 1 && v > 0));
  assertClose(withOne.data, [1, 1, 1, 1], 1e-6, 'fill 1 on an image of ones');
});

test('affine: the identity is exact; integer translation shifts; fill shows at the border', () => {
  const input = ramp(2, 3, 4);
  const identity = {
    angle: 0,
    translate: [0, 0] as [number, number],
    scale: 1,
    shear: [0, 0] as [number, number],
  };
  assert.deepEqual(F.affine(input, identity).data, input.data);
  assert.deepEqual(
    apply(transforms.randomAffine({ degrees: 0 }), input, new ScriptedGenerator([0.3])).data,
    input.data,
  );
  const shifted = F.affine(ramp(1, 2, 3), { ...identity, translate: [1, 0] }, 9);
  assert.deepEqual(nested(shifted), [
    [
      [9, 0, 1],
      [9, 3, 4],
    ],
  ]);
  const down = F.affine(ramp(1, 2, 3), { ...identity, translate: [0, 1] }, -1);
  assert.deepEqual(nested(down), [
    [
      [-1, -1, -1],
      [0, 1, 2],
    ],
  ]);
});

test('affine: a 45° x-shear slides each row by its distance from the centre row', () => {
  const input = ramp(1, 3, 5);
  const sheared = F.affine(input, { angle: 0, translate: [0, 0], scale: 1, shear: [45, 0] });
  // Output (x, y) reads input (x + (y - 1), y).
  assertImage(sheared, [1, 3, 5], [0, 0, 1, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13, 14, 0], 1e-6);
});

test('random affine draws angle, translation, scale and shear in torchvision order', () => {
  const spec = transforms.randomAffine({
    degrees: 30,
    translate: [0.5, 0.25],
    scale: [0.5, 1.5],
    shear: [0, 20, -10, 10],
  });
  const draws = [0.75, 0.9, 0.1, 0.5, 0.25, 0.5];
  const parameters = transforms.randomAffineParameters(spec, 4, 6, new ScriptedGenerator(draws));
  // angle -30 + 60·0.75; tx round(-3 + 6·0.9) = 2; ty round(-1 + 2·0.1) = round(-0.8) = -1; scale 1; shear 5, 0.
  assert.deepEqual(parameters, { angle: 15, translate: [2, -1], scale: 1, shear: [5, 0] });
  const input = ramp(1, 4, 6);
  assert.deepEqual(apply(spec, input, new ScriptedGenerator(draws)).data, F.affine(input, parameters).data);
});

test('random resized crop: forced window, then resized; the centre-crop fallback after 10 tries', () => {
  const input = ramp(1, 4, 4);
  const spec = transforms.randomResizedCrop(4, { scale: [0.25, 0.25], ratio: [1, 1] });
  // Area 16 · 0.25 = 4 → a 2×2 window; top = int(3) → 2, left = int(3) → 0.
  const generator = new ScriptedGenerator([0.5, 0.5, intDraw(2, 3), intDraw(0, 3)]);
  assertImage(apply(spec, input, generator), [1, 4, 4], F.resizedCrop(input, 2, 0, 2, 2, [4, 4]).data);
  const window = F.crop(input, 2, 0, 2, 2);
  assert.deepEqual(nested(window), [
    [
      [8, 9],
      [12, 13],
    ],
  ]);
  const impossible = transforms.randomResizedCrop(2, { scale: [2, 3], ratio: [2, 3] });
  const tries = new ScriptedGenerator(new Array(20).fill(0.5));
  // Fallback: ratio 1 < 2, so w = 4, h = round(4 / 2) = 2, centred: top 1.
  const out = apply(impossible, input, tries);
  assert.equal(tries.used, 20);
  assertImage(out, [1, 2, 2], F.resize(F.crop(input, 1, 0, 2, 4), [2, 2]).data);
});

test('elastic warping: zero alpha is the identity, a constant field shifts, alpha scales the field', () => {
  const input = ramp(2, 4, 5);
  assert.deepEqual(apply(transforms.elasticTransform({ alpha: 0, sigma: 2 }), input).data, input.data);
  const plane = 4 * 5;
  const right = { dx: new Float32Array(plane).fill(1), dy: new Float32Array(plane) };
  const shifted = transforms.elasticWarp(
    ramp(1, 2, 3),
    { dx: right.dx.subarray(0, 6), dy: right.dy.subarray(0, 6) },
    9,
  );
  assert.deepEqual(nested(shifted), [
    [
      [1, 2, 9],
      [4, 5, 9],
    ],
  ]);
  const half = transforms.elasticWarp(ramp(1, 1, 3), {
    dx: new Float32Array(3).fill(0.5),
    dy: new Float32Array(3),
  });
  assertImage(half, [1, 1, 3], [0.5, 1.5, 1]);
  const one = transforms.elasticDisplacement(6, 7, 1, 1.5, new Generator(3));
  const three = transforms.elasticDisplacement(6, 7, 3, 1.5, new Generator(3));
  assertClose(
    three.dx,
    Array.from(one.dx, (v) => 3 * v),
    1e-6,
    'dx',
  );
  assertClose(
    three.dy,
    Array.from(one.dy, (v) => 3 * v),
    1e-6,
    'dy',
  );
  assert.notDeepEqual(one.dx, one.dy);
  // The transform warps with exactly the field its generator draws.
  const drawn = transforms.elasticDisplacement(4, 5, 2, 1, new Generator(11));
  const warped = apply(transforms.elasticTransform({ alpha: 2, sigma: 1 }), input, new Generator(11));
  assert.deepEqual(warped.data, transforms.elasticWarp(input, drawn).data);
});

test('elastic smoothing is a normalised Gaussian truncated at 4σ', () => {
  const kernel = transforms.gaussianKernel(1);
  assert.equal(kernel.length, 9);
  assertClose([kernel.reduce((a, b) => a + b, 0)], [1], 1e-12);
  assertClose([kernel[4 + 1] / kernel[4]], [Math.exp(-0.5)], 1e-12);
  // An impulse in the middle of a 9×9 field smooths to the kernel's outer product.
  const field = new Float64Array(81);
  field[40] = 1;
  const smooth = transforms.gaussianSmooth(field, 9, 9, 1);
  assertClose(
    smooth,
    Array.from({ length: 81 }, (_, i) => kernel[Math.floor(i / 9)] * kernel[i % 9]),
    1e-15,
  );
  // Larger sigma averages more of the uniform noise away.
  const rms = (d: Float32Array): number => Math.sqrt(d.reduce((a, v) => a + v * v, 0) / d.length);
  const sharp = transforms.elasticDisplacement(28, 28, 1, 0.5, new Generator(1));
  const smoothField = transforms.elasticDisplacement(28, 28, 1, 4, new Generator(1));
  assert.ok(rms(smoothField.dx) < rms(sharp.dx) / 3);
});

test('colour shift adds one drawn offset per channel', () => {
  const input = ramp(3, 2, 2);
  const out = apply(transforms.colorShift({ scale: [0.1, 0.2, 0.3] }), input, new Generator(5));
  const reference = new Generator(5);
  const offsets = [0.1, 0.2, 0.3].map((s) => s * reference.normal());
  assertClose(
    out.data,
    Array.from(input.data, (v, i) => v + offsets[Math.floor(i / 4)]),
    1e-6,
  );
  const uniform = apply(
    transforms.colorShift({ scale: 0.5, distribution: 'uniform' }),
    input,
    new ScriptedGenerator([0, 0.5, 0.75]),
  );
  assertClose(
    uniform.data,
    Array.from(input.data, (v, i) => v + [-0.5, 0, 0.25][Math.floor(i / 4)]),
    1e-6,
  );
});

test('PCA lighting moves every pixel along the principal direction by α1·λ1', () => {
  const p1 = [1 / 3, 2 / 3, 2 / 3];
  const pca: transforms.PcaLighting = {
    eigenvalues: [0.5, 0, 0],
    eigenvectors: [p1, [2 / 3, 1 / 3, -2 / 3], [2 / 3, -2 / 3, 1 / 3]],
  };
  const input = ramp(3, 2, 2);
  const out = apply(transforms.pcaLighting(pca), input, new Generator(9));
  const alpha1 = 0.1 * new Generator(9).normal();
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < 4; p++) {
      assertClose(
        [out.data[c * 4 + p] - input.data[c * 4 + p]],
        [alpha1 * 0.5 * p1[c]],
        1e-6,
        `channel ${c}`,
      );
    }
  }
  // All three components: the offset is [p1 p2 p3]·[α1λ1 α2λ2 α3λ3]ᵀ.
  const full = { ...pca, eigenvalues: [0.2, 0.05, 0.01] as [number, number, number] };
  const generator = new Generator(4);
  const alphas = [0, 1, 2].map(() => 0.1 * generator.normal());
  const expected = [0, 1, 2].map((c) =>
    alphas.reduce((sum, a, i) => sum + full.eigenvectors[i][c] * a * full.eigenvalues[i], 0),
  );
  const shifted = apply(transforms.pcaLighting(full), input, new Generator(4));
  assertClose(
    [0, 4, 8].map((i) => shifted.data[i] - input.data[i]),
    expected,
    1e-6,
  );
});

test('computePcaLighting finds the direction and variance of the RGB pixels', () => {
  // Pixels 0.5 + t·[1, 2, 2]/3 with t = ±0.1, ±0.3 equally often: variance 0.05 along that direction only.
  const ts = [-0.3, -0.1, 0.1, 0.3];
  const images = new Float32Array(4 * 3 * 2 * 2);
  for (let n = 0; n < 4; n++) {
    for (let p = 0; p < 4; p++) {
      const t = ts[(n + p) % 4];
      [1, 2, 2].forEach((d, c) => (images[n * 12 + c * 4 + p] = 0.5 + (t * d) / 3));
    }
  }
  const pca = transforms.computePcaLighting(arrayDataset(images, [0, 0, 0, 0], [3, 2, 2]));
  assertClose(pca.eigenvalues, [0.05, 0, 0], 1e-6);
  assertClose(pca.eigenvectors[0], [1 / 3, 2 / 3, 2 / 3], 1e-5);
  assert.throws(
    () => transforms.computePcaLighting(arrayDataset(new Float32Array(4), [0], [1, 2, 2])),
    ShapeError,
  );
});

test('symmetricEigen3 reconstructs its matrix', () => {
  const a = [4, 1, -2, 1, 3, 0.5, -2, 0.5, 1];
  const { eigenvalues, eigenvectors } = transforms.symmetricEigen3(a);
  assert.ok(eigenvalues[0] >= eigenvalues[1] && eigenvalues[1] >= eigenvalues[2]);
  const rebuilt = Array.from({ length: 9 }, (_, k) =>
    eigenvalues.reduce(
      (sum, l, i) => sum + l * eigenvectors[i][Math.floor(k / 3)] * eigenvectors[i][k % 3],
      0,
    ),
  );
  assertClose(rebuilt, a, 1e-12);
});

test('tenCrop gives the corners, the centre, then the same of the mirror image (torchvision order)', () => {
  const crops = makeTransform(transforms.tenCrop(2))(ramp(1, 4, 4), new Generator(0)).map(
    (c) => nested(c)[0],
  );
  assert.deepEqual(crops, [
    [
      [0, 1],
      [4, 5],
    ],
    [
      [2, 3],
      [6, 7],
    ],
    [
      [8, 9],
      [12, 13],
    ],
    [
      [10, 11],
      [14, 15],
    ],
    [
      [5, 6],
      [9, 10],
    ],
    [
      [3, 2],
      [7, 6],
    ],
    [
      [1, 0],
      [5, 4],
    ],
    [
      [11, 10],
      [15, 14],
    ],
    [
      [9, 8],
      [13, 12],
    ],
    [
      [6, 5],
      [10, 9],
    ],
  ]);
  // Later steps apply to every crop.
  const normalised = makeTransform(
    transforms.compose([transforms.fiveCrop(2), transforms.normalize([1], [2])]),
  );
  assert.deepEqual(nested(normalised(ramp(1, 4, 4), new Generator(0))[4])[0], [
    [2, 2.5],
    [4, 4.5],
  ]);
});

test('compose runs its steps in order, drawing from one generator', () => {
  const input = image([
    [
      [1, 2],
      [3, 4],
    ],
  ]);
  const spec = transforms.compose([
    transforms.randomCrop(2, { padding: 1 }),
    transforms.randomHorizontalFlip(),
  ]);
  const generator = new ScriptedGenerator([intDraw(1, 3), intDraw(1, 3), 0.1]);
  assert.deepEqual(nested(apply(spec, input, generator)), [
    [
      [2, 1],
      [4, 3],
    ],
  ]);
  assert.equal(generator.used, 3);
});

test('descriptors are plain data: a JSON round trip gives the same transform', () => {
  const spec = transforms.compose([
    transforms.randomResizedCrop(6),
    transforms.randomAffine({ degrees: 10, translate: [0.1, 0.1], scale: [0.9, 1.1], shear: 5 }),
    transforms.elasticTransform({ alpha: 3, sigma: 1 }),
    transforms.colorShift({ scale: 0.05 }),
    transforms.randomHorizontalFlip(),
  ]);
  const copy = JSON.parse(JSON.stringify(spec)) as transforms.TransformSpec;
  const input = ramp(3, 8, 8);
  assert.deepEqual(apply(copy, input, new Generator(42)).data, apply(spec, input, new Generator(42)).data);
  assert.notDeepEqual(apply(spec, input, new Generator(43)).data, apply(spec, input, new Generator(42)).data);
});

test('bad options fail when the descriptor is made, saying which', () => {
  assert.throws(() => transforms.randomCrop(0), /randomCrop height must be a positive integer, got 0/);
  assert.throws(() => transforms.randomHorizontalFlip(2), ValueError);
  assert.throws(() => transforms.normalize([0], [0]), /contains 0/);
  assert.throws(() => transforms.randomAffine({ degrees: [10, -10] }), /min ≤ max/);
  assert.throws(() => transforms.pad([1, 2, 3]), /1, 2 or 4 values/);
  assert.throws(() => F.pad(ramp(1, 2, 2), 2, { mode: 'reflect' }), /smaller than the image/);
  assert.throws(() => apply(transforms.normalize([0, 0], [1, 1]), ramp(3, 1, 1)), ShapeError);
});
