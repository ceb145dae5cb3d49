import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError, ValueError } from '../../src/errors.js';
import {
  type Conv2dOptions,
  Tensor,
  add,
  conv2d,
  conv2dAttrs,
  conv2dFused,
  im2col,
  mul,
  randn,
  relu,
  sum,
  tensor,
} from '../../src/tensor/index.js';
import { conv2dOutputShape } from '../../src/backend/shapes.js';
import { assertTensor, gradcheck, uniformTensor } from './gradcheck.js';

interface Case {
  name: string;
  x: number[];
  w: number[];
  options: Conv2dOptions;
  outShape: number[];
}

const cases: Case[] = [
  {
    name: '3×3, padding 1',
    x: [2, 2, 5, 5],
    w: [3, 2, 3, 3],
    options: { padding: 1 },
    outShape: [2, 3, 5, 5],
  },
  {
    name: 'stride 2, no padding',
    x: [1, 2, 7, 6],
    w: [2, 2, 3, 3],
    options: { stride: 2 },
    outShape: [1, 2, 3, 2],
  },
  {
    name: 'stride [2, 1], padding [1, 0]',
    x: [1, 2, 6, 5],
    w: [2, 2, 3, 2],
    options: { stride: [2, 1], padding: [1, 0] },
    outShape: [1, 2, 3, 4],
  },
  // An even kernel with 'same': PyTorch pads 0 before and 1 after (top/left vs bottom/right).
  {
    name: "'same' with an even 2×4 kernel",
    x: [1, 2, 5, 6],
    w: [2, 2, 2, 4],
    options: { padding: 'same' },
    outShape: [1, 2, 5, 6],
  },
  {
    name: 'dilation 2',
    x: [1, 2, 7, 7],
    w: [2, 2, 3, 3],
    options: { dilation: 2, padding: 1 },
    outShape: [1, 2, 5, 5],
  },
  {
    name: "dilation [2, 1] with 'same'",
    x: [1, 1, 6, 5],
    w: [2, 1, 2, 3],
    options: { dilation: [2, 1], padding: 'same' },
    outShape: [1, 2, 6, 5],
  },
  {
    name: 'two groups',
    x: [1, 4, 5, 5],
    w: [4, 2, 3, 3],
    options: { groups: 2, padding: 1 },
    outShape: [1, 4, 5, 5],
  },
  {
    name: 'depthwise',
    x: [2, 3, 5, 5],
    w: [3, 1, 3, 3],
    options: { groups: 3, padding: 1, stride: 2 },
    outShape: [2, 3, 3, 3],
  },
  {
    name: 'depthwise × 2 (channel multiplier)',
    x: [1, 2, 4, 4],
    w: [4, 1, 2, 2],
    options: { groups: 2 },
    outShape: [1, 4, 3, 3],
  },
  { name: '1×1', x: [2, 3, 3, 3], w: [2, 3, 1, 1], options: {}, outShape: [2, 2, 3, 3] },
  {
    name: 'stride, dilation, groups and padding together',
    x: [1, 4, 7, 8],
    w: [4, 2, 3, 2],
    options: { stride: [2, 1], dilation: [1, 2], groups: 2, padding: [1, 2] },
    outShape: [1, 4, 4, 10],
  },
];

for (const c of cases) {
  test(`conv2d gradient, ${c.name}, with bias`, () => {
    const inputs = [uniformTensor(c.x, 1), uniformTensor(c.w, 2), uniformTensor([c.w[0]], 3)];
    gradcheck(
      `conv2d ${c.name} with bias`,
      (x, w, b) => {
        const y = conv2d(x, w, b, c.options);
        assert.deepEqual(y.shape, c.outShape);
        return y;
      },
      inputs,
    );
  });
  test(`conv2d gradient, ${c.name}, without bias`, () => {
    gradcheck(`conv2d ${c.name}`, (x, w) => conv2d(x, w, null, c.options), [
      uniformTensor(c.x, 4),
      uniformTensor(c.w, 5),
    ]);
  });
}

test('conv2d gradient with a frozen weight or a frozen input', () => {
  const [x, w, b] = [uniformTensor([1, 2, 4, 4], 6), uniformTensor([2, 2, 3, 3], 7), uniformTensor([2], 8)];
  gradcheck('conv2d, input only', (xi, wi, bi) => conv2d(xi, wi, bi, { padding: 1 }), [x, w, b], {
    check: [0],
  });
  gradcheck('conv2d, weight only', (xi, wi, bi) => conv2d(xi, wi, bi, { padding: 1 }), [x, w, b], {
    check: [1],
  });
  gradcheck('conv2d, bias only', (xi, wi, bi) => conv2d(xi, wi, bi, { padding: 1 }), [x, w, b], {
    check: [2],
  });
});

test("'same' padding attributes: PyTorch puts the odd element after", () => {
  assert.deepEqual(conv2dAttrs([2, 4], { padding: 'same' }).padding, [0, 1, 1, 2]);
  assert.deepEqual(conv2dAttrs([3, 3], { padding: 'same', dilation: 2 }).padding, [2, 2, 2, 2]);
  assert.deepEqual(conv2dAttrs([3, 5], { padding: 'valid' }).padding, [0, 0, 0, 0]);
  assert.deepEqual(conv2dAttrs([3, 5], { padding: [1, 2] }).padding, [1, 1, 2, 2]);
  assert.throws(() => conv2dAttrs([3, 3], { padding: 'same', stride: 2 }), ValueError);
  assert.throws(() => conv2dAttrs([3, 3], { groups: 0 }), ShapeError);
  assert.throws(() => conv2dAttrs([3, 3], { stride: 0 }), ShapeError);
});

test('conv2d values by hand', () => {
  // 1 channel 3×3 input, 2×2 kernel of ones: sums of each 2×2 window, plus the bias.
  const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  const ones = tensor([1, 1, 1, 1], [1, 1, 2, 2]);
  assertTensor(conv2d(x, ones, tensor([10])), [1, 1, 2, 2], [22, 26, 34, 38], '2×2 sums + 10');
  // 'same' with the even kernel pads one row below and one column right.
  assertTensor(
    conv2d(x, ones, null, { padding: 'same' }),
    [1, 1, 3, 3],
    [12, 16, 9, 24, 28, 15, 15, 17, 9],
    "'same'",
  );
  // Cross-correlation, not convolution: the kernel is not flipped.
  const corner = tensor([1, 0, 0, 0], [1, 1, 2, 2]);
  assertTensor(conv2d(x, corner), [1, 1, 2, 2], [1, 2, 4, 5], 'unflipped kernel');
  assertTensor(
    conv2d(x, corner, null, { stride: 2, padding: 1 }),
    [1, 1, 2, 2],
    [0, 0, 0, 5],
    'stride 2, padding 1',
  );
  // Two groups: channel 0 through filter 0, channel 1 through filter 1.
  const twoChannels = tensor([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2]);
  const depthwise = tensor([1, 1, 1, 1, 1, 0, 0, -1], [2, 1, 2, 2]);
  assertTensor(conv2d(twoChannels, depthwise, null, { groups: 2 }), [1, 2, 1, 1], [10, -30], 'depthwise');
});

test('conv2d misuse names the shapes', () => {
  const w = tensor(new Float32Array(8 * 3 * 3 * 3), [8, 3, 3, 3]);
  const hasShapes =
    (...shapes: string[]) =>
    (e: unknown) =>
      e instanceof ShapeError && shapes.every((s) => e.message.includes(s));
  // A 3-D image without its batch dimension.
  assert.throws(
    () => conv2d(tensor(new Float32Array(3 * 8 * 8), [3, 8, 8]), w),
    hasShapes('[3, 8, 8]', '[8, 3, 3, 3]'),
  );
  // A grayscale batch into an RGB layer.
  assert.throws(
    () => conv2d(tensor(new Float32Array(2 * 8 * 8), [2, 1, 8, 8]), w),
    hasShapes('[2, 1, 8, 8]', '[8, 3, 3, 3]'),
  );
  // The kernel does not fit the (padded) input: the output would be below 1.
  assert.throws(
    () => conv2d(tensor(new Float32Array(3 * 2 * 2), [1, 3, 2, 2]), w),
    (e: unknown) =>
      e instanceof ShapeError &&
      /kernel larger than the padded input/.test(e.message) &&
      /\[1, 3, 2, 2\]/.test(e.message),
  );
  assert.doesNotThrow(() =>
    conv2d(tensor(new Float32Array(3 * 2 * 2), [1, 3, 2, 2]), w, null, { padding: 1 }),
  );
  assert.throws(
    () => conv2d(tensor(new Float32Array(3 * 16), [1, 3, 4, 4]), w, tensor([1, 2])),
    hasShapes('[2]'),
  );
  assert.throws(
    () =>
      conv2d(
        tensor(new Float32Array(4 * 16), [1, 4, 4, 4]),
        tensor(new Float32Array(3 * 2 * 9), [3, 2, 3, 3]),
        null,
        { groups: 2 },
      ),
    ShapeError,
  );
});

test('attributes a convolution cannot run with are ShapeErrors naming the attribute, before a backend sees them', () => {
  const x = randn([1, 3, 6, 6]);
  const w = randn([2, 3, 3, 3]);
  const cases: [() => unknown, RegExp][] = [
    [
      () => conv2d(randn([1, 0, 6, 6]), randn([2, 0, 1, 1])),
      /^conv2d: input \[1, 0, 6, 6\], weight \[2, 0, 1, 1\]: the input has 0 channels/,
    ],
    [() => conv2d(x, randn([0, 3, 1, 1])), /weight \[0, 3, 1, 1\]: the weight has 0 output channels/],
    [() => conv2d(x, randn([2, 3, 0, 3])), /weight \[2, 3, 0, 3\]: kernel size \[0, 3\] must be at least 1/],
    [
      () => conv2d(x, randn([2, 3, 3, 0]), null, { padding: 'same' }),
      /kernel size \[3, 0\] must be at least 1/,
    ],
    [
      () => conv2d(x, w, null, { stride: 0 }),
      /^conv2d: stride \[0, 0\] and dilation \[1, 1\] must be positive/,
    ],
    [() => conv2d(x, w, null, { stride: [1, -2] }), /stride \[1, -2\]/],
    [() => conv2d(x, w, null, { dilation: [1, 0] }), /dilation \[1, 0\] must be positive/],
    [() => conv2d(x, w, null, { groups: 0 }), /^conv2d: groups must be a positive integer, got 0/],
    [() => conv2d(x, w, null, { groups: 1.5 }), /groups must be a positive integer, got 1.5/],
    [
      () => conv2d(randn([1, 4, 6, 6]), randn([3, 2, 3, 3]), null, { groups: 2 }),
      /3 output channels do not divide into 2 groups/,
    ],
    [
      () => conv2d(randn([1, 3, 6, 6]), randn([2, 1, 3, 3]), null, { groups: 2 }),
      /input has 3 channels but the weight expects 1 × 2 groups = 2/,
    ],
    [() => conv2d(x, w, null, { dilation: 3 }), /output below 1/],
  ];
  for (const [run, pattern] of cases) {
    assert.throws(run, (e: unknown) => e instanceof ShapeError && pattern.test(e.message), String(pattern));
  }
  // The checks live in the shape rule every backend shares.
  const attrs = { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 } as const;
  assert.throws(() => conv2dOutputShape([1, 0, 6, 6], [2, 0, 1, 1], attrs), ShapeError);
  assert.throws(
    () => conv2dOutputShape([1, 3, 6, 6], [2, 3, 3, 3], { ...attrs, stride: [0, 1] }),
    ShapeError,
  );
});

test('im2col lays out one column per output position, rows ordered (channel, ki, kj)', () => {
  const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  // Rows: kernel offsets (0,0), (0,1), (1,0), (1,1); columns: output positions in row-major order.
  assertTensor(im2col(x, 2), [1, 4, 4], [1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9], 'im2col 2×2');
  const twoChannels = tensor([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
  assertTensor(
    im2col(twoChannels, 2, { groups: 2 }),
    [2, 4, 1],
    [1, 2, 3, 4, 5, 6, 7, 8],
    'im2col per group',
  );
  assertTensor(im2col(x, 1, { stride: 2 }), [1, 1, 4], [1, 3, 7, 9], 'im2col 1×1 stride 2');
});

test('conv2dFused: the sum has gradients of its own', () => {
  const inputs = [
    uniformTensor([2, 3, 5, 5], 9),
    uniformTensor([4, 3, 3, 3], 10),
    uniformTensor([4], 11),
    uniformTensor([2, 4, 3, 3], 12),
  ];
  gradcheck('conv2dFused with a sum', (x, w, b, z) => conv2dFused(x, w, b, {}, { add: z }), inputs);
});

test('conv2dFused equals relu(conv2d + sum), values and gradients', () => {
  const make = () => [
    uniformTensor([2, 3, 6, 6], 13),
    uniformTensor([4, 3, 3, 3], 14),
    uniformTensor([4], 15),
    uniformTensor([2, 4, 3, 3], 16),
  ];
  const run = (f: (x: Tensor, w: Tensor, b: Tensor, z: Tensor) => Tensor) => {
    const inputs = make();
    for (const t of inputs) t.requiresGrad = true;
    const [x, w, b, z] = inputs;
    const y = f(x, w, b, z);
    sum(mul(y, y)).backward();
    return [y, ...inputs.map((t) => t.grad!)].map((t) => Array.from(t.data()));
  };
  const options: Conv2dOptions = { stride: 2, padding: 1 };
  const fused = run((x, w, b, z) => conv2dFused(x, w, b, options, { add: z, relu: true }));
  const composed = run((x, w, b, z) => relu(add(conv2d(x, w, b, options), z)));
  fused.forEach((values, i) =>
    values.forEach((v, j) => assert.ok(Math.abs(v - composed[i][j]) <= 1e-5, `tensor ${i}, element ${j}`)),
  );
  assert.ok(fused[0].some((v) => v === 0) && fused[0].some((v) => v > 0), 'ReLU clips some outputs');
});

test('conv2dFused: a sum of the wrong shape names both shapes', () => {
  const [x, w] = [uniformTensor([1, 2, 4, 4], 17), uniformTensor([3, 2, 3, 3], 18)];
  assert.throws(
    () => conv2dFused(x, w, null, {}, { add: uniformTensor([1, 3, 4, 4], 19) }),
    /the tensor to add is \[1, 3, 4, 4\], the output \[1, 3, 2, 2\]/,
  );
});

test('conv2dFused consumeAdd: the same values, the tensor to add disposed; refused while it needs a gradient', () => {
  const [x, w] = [uniformTensor([2, 3, 5, 5], 20), uniformTensor([4, 3, 3, 3], 21)];
  const z = uniformTensor([2, 4, 3, 3], 22);
  const expected = Array.from(conv2dFused(x, w, null, {}, { add: z, relu: true }).data());
  const y = conv2dFused(x, w, null, {}, { add: z, relu: true, consumeAdd: true });
  assert.deepEqual(Array.from(y.data()), expected);
  assert.equal(z.disposed, true);
  const needsGrad = uniformTensor([2, 4, 3, 3], 23);
  needsGrad.requiresGrad = true;
  assert.throws(
    () => conv2dFused(x, w, null, {}, { add: needsGrad, consumeAdd: true }),
    /cannot consume a tensor to add that needs a gradient/,
  );
  assert.equal(needsGrad.disposed, false);
});
