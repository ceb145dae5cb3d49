// resize2d and its backward on the native backend (oneDNN's resampling) against the reference kernels, in plain
// and blocked layouts: bilinear at every size, nearest at whole factors on oneDNN and elsewhere handed to the
// reference kernel.
import { test } from 'node:test';
import type { ResizeMode } from '../../../src/backend/backend.js';
import { Generator } from '../../../src/tensor/index.js';
import { agree, input, layouts, skipNative } from './helpers.js';

process.env.CONVNETS_THREADS ??= '1';

const sizes: [number[], [number, number]][] = [
  [
    [2, 16, 4, 5],
    [8, 10],
  ],
  [
    [1, 16, 5, 7],
    [8, 9],
  ],
  [
    [1, 8, 9, 8],
    [4, 3],
  ],
  [
    [2, 16, 7, 7],
    [14, 21],
  ],
  [
    [1, 16, 2, 2],
    [1, 1],
  ],
];

function normals(generator: Generator, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => generator.normal());
}

for (const mode of ['nearest', 'bilinear'] as ResizeMode[]) {
  for (const layout of layouts) {
    test(
      `resize2d ${mode} and its gradient agree with the reference kernels [${layout}]`,
      { skip: skipNative },
      () => {
        const generator = new Generator(41);
        for (const [xShape, outSize] of sizes) {
          const yShape = [xShape[0], xShape[1], ...outSize];
          const size = (s: number[]) => s.reduce((a, d) => a * d, 1);
          const what = `${mode} ${xShape.join('×')} → ${outSize.join('×')}`;
          agree(what, layout, [input(normals(generator, size(xShape)), xShape)], (b, [x]) =>
            b.resize2d(x, xShape, outSize, mode),
          );
          agree(`${what}, backward`, layout, [input(normals(generator, size(yShape)), yShape)], (b, [dy]) =>
            b.resize2dBackward(dy, yShape, xShape, mode),
          );
        }
      },
    );
  }
}
