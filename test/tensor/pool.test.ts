import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outputSize, pool2dOutputShape } from '../../src/backend/shapes.js';
import { ShapeError } from '../../src/errors.js';
import {
  type Pool2dOptions,
  adaptiveAvgPool2d,
  avgPool2d,
  conv2d,
  maxPool2d,
  pool2dAttrs,
  tensor,
  zeros,
} from '../../src/tensor/index.js';
import { assertTensor, distinctTensor, gradcheck, uniformTensor } from './gradcheck.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

const poolCases: [string, number[], number | [number, number], Pool2dOptions, number[]][] = [
  ['2×2, stride 2', [2, 2, 4, 4], 2, {}, [2, 2, 2, 2]],
  ['3×3, stride 2, overlapping (AlexNet)', [1, 2, 7, 7], 3, { stride: 2 }, [1, 2, 3, 3]],
  ['3×3, stride 2, padding 1', [1, 2, 6, 5], 3, { stride: 2, padding: 1 }, [1, 2, 3, 3]],
  ['2×2, stride 2, ceil mode on odd input', [1, 2, 5, 5], 2, { ceilMode: true }, [1, 2, 3, 3]],
  [
    '3×3, stride 2, ceil mode with padding',
    [1, 1, 6, 6],
    3,
    { stride: 2, padding: 1, ceilMode: true },
    [1, 1, 4, 4],
  ],
  ['3×3 stride 1 same (Inception branch)', [1, 2, 4, 5], 3, { stride: 1, padding: 'same' }, [1, 2, 4, 5]],
  ['2×3 stride 1 same (uneven padding)', [1, 1, 4, 5], [2, 3], { stride: 1, padding: 'same' }, [1, 1, 4, 5]],
  ['rectangular [2, 3] with stride [1, 2]', [1, 2, 4, 7], [2, 3], { stride: [1, 2] }, [1, 2, 3, 3]],
];

for (const [name, xShape, kernel, options, yShape] of poolCases) {
  test(`maxPool2d gradient, ${name}`, () => {
    gradcheck(
      `maxPool2d ${name}`,
      (x) => {
        const y = maxPool2d(x, kernel, options);
        assert.deepEqual(y.shape, yShape);
        return y;
      },
      [distinctTensor(xShape, 1)],
    );
  });
  for (const countIncludePad of [true, false]) {
    test(`avgPool2d gradient, ${name}, countIncludePad ${countIncludePad}`, () => {
      gradcheck(
        `avgPool2d ${name} countIncludePad=${countIncludePad}`,
        (x) => {
          const y = avgPool2d(x, kernel, { ...options, countIncludePad });
          assert.deepEqual(y.shape, yShape);
          return y;
        },
        [uniformTensor(xShape, 2)],
      );
    });
  }
}

for (const [inSize, outSize] of [
  [
    [5, 5],
    [3, 3],
  ],
  [
    [6, 7],
    [4, 3],
  ],
  [
    [4, 4],
    [2, 2],
  ],
  [
    [3, 5],
    [1, 1],
  ],
  [
    [2, 3],
    [4, 5],
  ],
] as const) {
  test(`adaptiveAvgPool2d gradient, ${inSize.join('×')} → ${outSize.join('×')}`, () => {
    gradcheck(`adaptiveAvgPool2d ${inSize}→${outSize}`, (x) => adaptiveAvgPool2d(x, outSize), [
      uniformTensor([2, 2, ...inSize], 3),
    ]);
  });
}

test('pooling values by hand', () => {
  const x = tensor(range(16), [1, 1, 4, 4]);
  assertTensor(maxPool2d(x, 2), [1, 1, 2, 2], [5, 7, 13, 15], 'max 2×2');
  assertTensor(avgPool2d(x, 2), [1, 1, 2, 2], [2.5, 4.5, 10.5, 12.5], 'avg 2×2');
  assertTensor(maxPool2d(x, 3, { stride: 1 }), [1, 1, 2, 2], [10, 11, 14, 15], 'max 3×3 stride 1');
  // Padding never wins a max, even against negative values.
  assertTensor(
    maxPool2d(tensor([-1, -2, -3, -4], [1, 1, 2, 2]), 2, { stride: 1, padding: 1 }),
    [1, 1, 3, 3],
    [-1, -1, -2, -1, -1, -2, -3, -3, -4],
    'max with padding',
  );
  const ones = tensor(new Float32Array(9).fill(1), [1, 1, 3, 3]);
  assertTensor(avgPool2d(ones, 2, { padding: 1 }), [1, 1, 2, 2], [0.25, 0.5, 0.5, 1], 'avg counting padding');
  assertTensor(
    avgPool2d(ones, 2, { padding: 1, countIncludePad: false }),
    [1, 1, 2, 2],
    [1, 1, 1, 1],
    'avg without padding',
  );
  // Ceil mode on 5×5: a third, clipped window per axis; averages divide by the clipped window.
  const x5 = tensor(range(25), [1, 1, 5, 5]);
  assertTensor(maxPool2d(x5, 2), [1, 1, 2, 2], [6, 8, 16, 18], 'max floor mode');
  assertTensor(
    maxPool2d(x5, 2, { ceilMode: true }),
    [1, 1, 3, 3],
    [6, 8, 9, 16, 18, 19, 21, 23, 24],
    'max ceil mode',
  );
  const avgCeil = avgPool2d(x5, 2, { ceilMode: true });
  assertTensor(avgCeil, [1, 1, 3, 3], [3, 5, 6.5, 13, 15, 16.5, 20.5, 22.5, 24], 'avg ceil mode');
  // Adaptive 5 → 3: PyTorch's bins [0, 2), [1, 4), [3, 5).
  const row = tensor([1, 2, 3, 4, 5], [1, 1, 1, 5]);
  assertTensor(adaptiveAvgPool2d(row, [1, 3]), [1, 1, 1, 3], [1.5, 3, 4.5], 'adaptive 5 → 3');
  assertTensor(adaptiveAvgPool2d(x, 1), [1, 1, 1, 1], [7.5], 'global average');
});

test("pool 'same' attributes put the odd padding after", () => {
  assert.deepEqual(pool2dAttrs(3, { stride: 1, padding: 'same' }).padding, [1, 1, 1, 1]);
  assert.deepEqual(pool2dAttrs([2, 4], { stride: 1, padding: 'same' }).padding, [0, 1, 1, 2]);
  assert.deepEqual(pool2dAttrs(3).stride, [3, 3]);
  assert.throws(() => pool2dAttrs(3, { stride: 2, padding: 'same' }), /needs stride 1/);
});

test('outputSize: the (n + 2p − f)/s + 1 rule on the classic networks', () => {
  // LeNet-5: 32 → conv 5 → 28 → pool 2 → 14 → conv 5 → 10 → pool 2 → 5.
  assert.equal(outputSize(32, 5), 28);
  assert.equal(outputSize(28, 2, 2), 14);
  assert.equal(outputSize(14, 5), 10);
  assert.equal(outputSize(10, 2, 2), 5);
  // AlexNet conv1 on 227: (227 − 11)/4 + 1 = 55, then 3×3 stride-2 pooling 55 → 27.
  assert.equal(outputSize(227, 11, 4), 55);
  assert.equal(outputSize(55, 3, 2), 27);
  // 224 with the same layer does not divide: (224 − 11)/4 + 1 = 54.25 floors to 54, as PyTorch.
  assert.equal(outputSize(224, 11, 4), 54);
  assert.equal(outputSize(224, 11, 4, 2), 55);
  // ResNet stem: 224, 7×7 stride 2 padding 3 → 112; max pool 3 stride 2 padding 1 → 56.
  assert.equal(outputSize(224, 7, 2, 3), 112);
  assert.equal(outputSize(112, 3, 2, 1), 56);
  // Ceil mode: 5, 2, 2 → 3 rather than 2; GoogLeNet's 3×3 stride-2 ceil pooling 112 → 56, 28 → 14.
  assert.equal(outputSize(5, 2, 2, 0, { ceilMode: true }), 3);
  assert.equal(outputSize(112, 3, 2, 0, { ceilMode: true }), 56);
  assert.equal(outputSize(112, 3, 2, 0), 55);
  // ...but the last window must start inside the input or its left padding: 6, 2, 2, p=1 gives 4, not 5.
  assert.equal(outputSize(6, 2, 2, 1, { ceilMode: true }), 4);
  // Dilation widens the kernel to d·(k − 1) + 1.
  assert.equal(outputSize(7, 3, 1, 0, { dilation: 2 }), 3);
  // Uneven padding.
  assert.equal(outputSize(5, 2, 1, 0, { paddingAfter: 1 }), 5);
});

test("outputSize's strict option and too-large kernels name the rule", () => {
  assert.throws(
    () => outputSize(224, 11, 4, 0, { strict: true }),
    (e: unknown) =>
      e instanceof ShapeError &&
      e.message.includes('(n + 2p − f)/s + 1') &&
      /n=224/.test(e.message) &&
      /f=11/.test(e.message) &&
      /s=4/.test(e.message),
  );
  assert.equal(outputSize(227, 11, 4, 0, { strict: true }), 55);
  assert.throws(
    () => outputSize(4, 5),
    (e: unknown) =>
      e instanceof ShapeError &&
      /kernel larger than the padded input/.test(e.message) &&
      /n=4/.test(e.message),
  );
  assert.equal(outputSize(4, 5, 1, 1), 2);
});

test('shapes through LeNet-5 and AlexNet conv1 with the ops', () => {
  let x = zeros([1, 1, 32, 32]);
  x = conv2d(x, zeros([6, 1, 5, 5]));
  assert.deepEqual(x.shape, [1, 6, 28, 28]);
  x = avgPool2d(x, 2);
  assert.deepEqual(x.shape, [1, 6, 14, 14]);
  x = conv2d(x, zeros([16, 6, 5, 5]));
  assert.deepEqual(x.shape, [1, 16, 10, 10]);
  x = maxPool2d(x, 2);
  assert.deepEqual(x.shape, [1, 16, 5, 5]);
  const alex = conv2d(zeros([1, 3, 227, 227]), zeros([4, 3, 11, 11]), null, { stride: 4 });
  assert.deepEqual(alex.shape, [1, 4, 55, 55]);
  assert.deepEqual(maxPool2d(alex, 3, { stride: 2 }).shape, [1, 4, 27, 27]);
});

test('pooling misuse is refused with the shapes', () => {
  assert.throws(
    () => maxPool2d(zeros([1, 1, 2, 2]), 3),
    (e: unknown) =>
      e instanceof ShapeError &&
      /\[1, 1, 2, 2\]/.test(e.message) &&
      /kernel larger than the padded input/.test(e.message),
  );
  assert.throws(
    () => maxPool2d(zeros([1, 4, 4]), 2),
    (e: unknown) => e instanceof ShapeError && /\[1, 4, 4\]/.test(e.message),
  );
  assert.throws(() => avgPool2d(zeros([1, 1, 4, 4]), 2, { padding: 2 }), /padding/);
  assert.throws(
    () => adaptiveAvgPool2d(zeros([4, 4]), 2),
    (e: unknown) => e instanceof ShapeError && /\[4, 4\]/.test(e.message),
  );
  assert.throws(() => adaptiveAvgPool2d(zeros([1, 1, 4, 4]), 0), /output size/);
});

test('attributes pooling cannot run with are ShapeErrors naming the attribute and the op', () => {
  const x = zeros([1, 2, 4, 4]);
  const cases: [() => unknown, RegExp][] = [
    [() => maxPool2d(x, 0), /^maxPool2d: kernel size \[0, 0\] and stride \[0, 0\] must be positive integers/],
    [() => avgPool2d(x, [2, 0]), /^avgPool2d: kernel size \[2, 0\]/],
    [() => maxPool2d(x, 2, { stride: 0 }), /^maxPool2d: .*stride \[0, 0\] must be positive integers/],
    [() => avgPool2d(x, 2, { stride: [1, -1] }), /stride \[1, -1\]/],
    [() => maxPool2d(x, 1.5), /kernel size \[1.5, 1.5\]/],
    [
      () => maxPool2d(zeros([1, 0, 4, 4]), 2),
      /^maxPool2d: input \[1, 0, 4, 4\], kernel \[2, 2\]: the input has 0 channels/,
    ],
    [() => avgPool2d(zeros([1, 2, 1, 1]), 2), /^avgPool2d: input \[1, 2, 1, 1\].*output below 1/],
  ];
  for (const [run, pattern] of cases) {
    assert.throws(run, (e: unknown) => e instanceof ShapeError && pattern.test(e.message), String(pattern));
  }
  // The shape rule every backend shares refuses them too.
  const attrs = {
    kernel: [2, 2],
    stride: [0, 2],
    padding: [0, 0, 0, 0],
    ceilMode: false,
    countIncludePad: true,
  } as const;
  assert.throws(() => pool2dOutputShape([1, 2, 4, 4], attrs), ShapeError);
  assert.throws(() => pool2dOutputShape([1, 0, 4, 4], { ...attrs, stride: [2, 2] }), ShapeError);
});
