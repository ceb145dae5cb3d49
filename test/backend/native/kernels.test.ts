// Every kernel of the native backend against the reference backend on randomised shapes, in both the plain and
// the blocked layout (inputs fed through oneDNN's blocked formats). Skipped where the addon is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  ActivationOp,
  BinaryOp,
  Conv2dAttrs,
  Pool2dAttrs,
  ReduceOp,
  UnaryOp,
} from '../../../src/backend/backend.js';
import { conv2dOutputShape, pool2dOutputShape, sizeOf } from '../../../src/backend/shapes.js';
import { BackendError } from '../../../src/errors.js';
import { generator, randomArray } from '../reference/helpers.js';
import { type Input, agree, input, layouts, native, reference, skipNative } from './helpers.js';

const CASES = 12;
type Random = () => number;
const int = (random: Random, low: number, high: number) => low + Math.floor(random() * (high - low + 1));
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)];
const floats = (random: Random, shape: number[], scale = 1) =>
  input(
    randomArray(random, sizeOf(shape)).map((v) => v * scale),
    shape,
  );

interface ConvCase {
  xShape: number[];
  wShape: number[];
  attrs: Conv2dAttrs;
  bias: boolean;
}

function randomConv(random: Random): ConvCase {
  const kind = pick(random, ['dense', 'grouped', 'depthwise'] as const);
  const groups = kind === 'dense' ? 1 : int(random, 2, 4);
  const inPerGroup = kind === 'depthwise' ? 1 : int(random, 1, 3);
  const outPerGroup = int(random, 1, 3);
  const kernel = [int(random, 1, 4), int(random, 1, 4)];
  const dilation: [number, number] = [int(random, 1, 2), int(random, 1, 2)];
  const span = kernel.map((k, i) => dilation[i] * (k - 1) + 1);
  const attrs: Conv2dAttrs = {
    stride: [int(random, 1, 3), int(random, 1, 3)],
    padding: [int(random, 0, 2), int(random, 0, 2), int(random, 0, 2), int(random, 0, 2)],
    dilation,
    groups,
  };
  return {
    xShape: [
      int(random, 1, 3),
      groups * inPerGroup,
      span[0] + int(random, 0, 6),
      span[1] + int(random, 0, 6),
    ],
    wShape: [groups * outPerGroup, inPerGroup, kernel[0], kernel[1]],
    attrs,
    bias: random() < 0.5,
  };
}

/** 2 × 4 × 4 output tiles of 4×4: the fewest for which Winograd's algorithm pays. */
const winogradCase: ConvCase = {
  xShape: [2, 32, 16, 16],
  wShape: [48, 32, 3, 3],
  attrs: { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
  bias: true,
};

/**
 * Shapes where oneDNN takes its JIT paths: channel counts of 16 and more, the 3-channel first layer, depthwise;
 * 16 channels in and out at batch 8 and 32×32, which run channels-last; and 3×3 convolutions with 32 channels and
 * more over 32 output tiles of 4×4, which run by Winograd's algorithm where oneDNN has it for the padding
 * (native/src/convolution.cc).
 */
const convShapes: ConvCase[] = [
  {
    xShape: [8, 16, 32, 32],
    wShape: [16, 16, 3, 3],
    attrs: { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
    bias: true,
  },
  {
    xShape: [2, 32, 9, 9],
    wShape: [48, 32, 3, 3],
    attrs: { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
    bias: true,
  },
  {
    xShape: [1, 3, 13, 11],
    wShape: [16, 3, 5, 5],
    attrs: { stride: [2, 2], padding: [2, 1, 2, 1], dilation: [1, 1], groups: 1 },
    bias: true,
  },
  {
    xShape: [2, 32, 10, 10],
    wShape: [32, 1, 3, 3],
    attrs: { stride: [2, 2], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 32 },
    bias: false,
  },
  {
    xShape: [2, 16, 8, 8],
    wShape: [32, 16, 1, 1],
    attrs: { stride: [2, 2], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 },
    bias: false,
  },
  winogradCase,
  {
    xShape: [8, 32, 10, 10],
    wShape: [32, 32, 3, 3],
    attrs: { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 },
    bias: false,
  },
  {
    xShape: [2, 32, 16, 16],
    wShape: [32, 32, 3, 3],
    attrs: { stride: [1, 1], padding: [2, 2, 2, 2], dilation: [1, 1], groups: 1 },
    bias: true,
  },
  {
    xShape: [1, 64, 7, 7],
    wShape: [64, 32, 3, 3],
    attrs: { stride: [1, 1], padding: [2, 2, 2, 2], dilation: [2, 2], groups: 2 },
    bias: true,
  },
];

function checkConv(c: ConvCase, random: Random, layout: (typeof layouts)[number], what: string): void {
  const yShape = conv2dOutputShape(c.xShape, c.wShape, c.attrs);
  const inputs: Input[] = [
    floats(random, c.xShape),
    floats(random, c.wShape),
    floats(random, yShape),
    floats(random, [c.wShape[0]]),
  ];
  agree(what, layout, inputs, (b, [x, w, dy, bias]) => [
    b.conv2d(x, c.xShape, w, c.wShape, c.bias ? bias : null, c.attrs),
    // Post-ops: a sum (dy serves as the tensor to add), ReLU, and both.
    b.conv2d(x, c.xShape, w, c.wShape, c.bias ? bias : null, c.attrs, { add: dy }),
    b.conv2d(x, c.xShape, w, c.wShape, c.bias ? bias : null, c.attrs, { relu: true }),
    b.conv2d(x, c.xShape, w, c.wShape, c.bias ? bias : null, c.attrs, { add: dy, relu: true }),
    b.conv2dBackwardData(dy, yShape, w, c.wShape, c.xShape, c.attrs),
    b.conv2dBackwardFilter(x, c.xShape, dy, yShape, c.wShape, c.attrs),
  ]);
  // The sum given up to the kernel (its buffer may become the output's): nothing reads it afterwards.
  agree(`${what}, sum in place`, layout, inputs, (b, [x, w, dy, bias]) =>
    b.conv2d(x, c.xShape, w, c.wShape, c.bias ? bias : null, c.attrs, {
      add: dy,
      relu: true,
      addInPlace: true,
    }),
  );
}

function randomPool(random: Random): { xShape: number[]; attrs: Pool2dAttrs } {
  const kernel: [number, number] = [int(random, 1, 4), int(random, 1, 4)];
  const half = kernel.map((k) => Math.floor(k / 2));
  return {
    xShape: [
      int(random, 1, 3),
      int(random, 1, 5),
      kernel[0] + int(random, 0, 7),
      kernel[1] + int(random, 0, 7),
    ],
    attrs: {
      kernel,
      stride: [int(random, 1, 3), int(random, 1, 3)],
      padding: [
        int(random, 0, half[0]),
        int(random, 0, half[0]),
        int(random, 0, half[1]),
        int(random, 0, half[1]),
      ],
      ceilMode: random() < 0.5,
      countIncludePad: random() < 0.5,
    },
  };
}

const poolShapes: { xShape: number[]; attrs: Pool2dAttrs }[] = [
  {
    xShape: [2, 16, 15, 15],
    attrs: { kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1], ceilMode: true, countIncludePad: true },
  },
  {
    xShape: [2, 32, 8, 8],
    attrs: { kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0], ceilMode: false, countIncludePad: true },
  },
  {
    xShape: [1, 24, 14, 14],
    attrs: { kernel: [3, 3], stride: [2, 2], padding: [0, 0, 0, 0], ceilMode: true, countIncludePad: false },
  },
  // Inception's 'same' pooling pads unevenly with an even kernel.
  {
    xShape: [2, 16, 7, 7],
    attrs: { kernel: [2, 2], stride: [1, 1], padding: [0, 1, 0, 1], ceilMode: false, countIncludePad: false },
  },
];

for (const layout of layouts) {
  test(
    `convolution forward, backward-data and backward-weights agree [${layout}]`,
    { skip: skipNative },
    () => {
      const random = generator(1);
      for (let i = 0; i < CASES * 2; i++) {
        const c = randomConv(random);
        checkConv(c, random, layout, `conv ${JSON.stringify(c)}`);
      }
      convShapes.forEach((c, i) => checkConv(c, random, layout, `conv shape ${i}`));
    },
  );

  test(`max and average pooling, forward and backward, agree [${layout}]`, { skip: skipNative }, () => {
    const random = generator(2);
    const cases = [...Array.from({ length: CASES * 3 }, () => randomPool(random)), ...poolShapes];
    for (const { xShape, attrs } of cases) {
      const yShape = pool2dOutputShape(xShape, attrs);
      for (const kind of ['max', 'avg'] as const) {
        agree(
          `${kind}Pool ${JSON.stringify({ xShape, attrs })}`,
          layout,
          [floats(random, xShape), floats(random, yShape)],
          (b, [x, dy]) => {
            const { y, workspace } = b.pool2d(kind, x, xShape, attrs);
            const dx = b.pool2dBackward(kind, dy, yShape, xShape, attrs, workspace);
            if (workspace !== null) b.release(workspace);
            // Inference (no backward to follow): no workspace, the same values.
            const inference = b.pool2d(kind, x, xShape, attrs, false);
            assert.equal(inference.workspace, null);
            return [y, dx, inference.y];
          },
        );
      }
    }
  });

  test(`adaptive average pooling agrees, even and uneven bins [${layout}]`, { skip: skipNative }, () => {
    const random = generator(3);
    const cases: [number[], [number, number]][] = [
      [
        [2, 64, 8, 8],
        [1, 1],
      ],
      [
        [1, 16, 6, 4],
        [3, 2],
      ],
      [
        [1, 3, 7, 5],
        [3, 2],
      ],
      [
        [2, 5, 6, 6],
        [4, 4],
      ],
    ];
    for (const [xShape, out] of cases) {
      const dyShape = [xShape[0], xShape[1], out[0], out[1]];
      agree(
        `adaptiveAvgPool ${xShape} → ${out}`,
        layout,
        [floats(random, xShape), floats(random, dyShape)],
        (b, [x, dy]) => [
          b.adaptiveAvgPool2d(x, xShape, out),
          b.adaptiveAvgPool2dBackward(dy, dyShape, xShape),
        ],
      );
    }
  });

  test(`local response normalisation agrees, odd and even sizes [${layout}]`, { skip: skipNative }, () => {
    const random = generator(4);
    for (let i = 0; i < CASES; i++) {
      const shape = pick(random, [
        [int(random, 1, 3), int(random, 1, 20), int(random, 1, 6), int(random, 1, 6)],
        [int(random, 1, 3), int(random, 1, 20), int(random, 1, 6)],
        [int(random, 1, 3), int(random, 1, 20)],
      ]);
      const attrs = {
        size: int(random, 1, 6),
        alpha: 1e-4 + random() * 0.5,
        beta: 0.5 + random(),
        k: 1 + random(),
      };
      agree(
        `lrn ${JSON.stringify({ shape, attrs })}`,
        layout,
        [floats(random, shape, 2), floats(random, shape)],
        (b, [x, dy]) => [b.lrn(x, shape, attrs), b.lrnBackward(x, dy, shape, attrs)],
      );
    }
  });

  test(
    `batch normalisation, training, inference and backward, agrees [${layout}]`,
    { skip: skipNative },
    () => {
      const random = generator(5);
      const shapes = [
        [8, 5],
        [3, 4, 7],
        [2, 3, 5, 5],
        [1, 16, 6, 6],
        [4, 32, 3, 5],
      ];
      for (let i = 0; i < CASES; i++)
        shapes.push([int(random, 2, 4), int(random, 1, 20), int(random, 1, 5), int(random, 1, 5)]);
      for (const shape of shapes) {
        const channels = [shape[1]];
        const variance = input(
          Float32Array.from({ length: shape[1] }, () => 0.5 + random()),
          channels,
        );
        agree(
          `batchNorm ${shape}`,
          layout,
          [
            floats(random, shape, 3),
            floats(random, channels),
            floats(random, channels),
            floats(random, channels),
            variance,
            floats(random, shape),
          ],
          (b, [x, gamma, beta, mean, v, dy]) => {
            const trained = b.batchNormTraining(x, shape, gamma, beta, 1e-5);
            const inferred = b.batchNormInference(x, shape, gamma, beta, mean, v, 1e-5);
            const grads = b.batchNormBackward(x, dy, shape, gamma, trained.mean, trained.variance, 1e-5);
            return [trained.y, trained.mean, trained.variance, inferred, grads.dx, grads.dgamma, grads.dbeta];
          },
        );
        // A ReLU fused after it: native keeps oneDNN's mask for backward, the reference reads the output.
        agree(
          `batchNorm + ReLU ${shape}`,
          layout,
          [
            floats(random, shape, 3),
            floats(random, channels),
            floats(random, channels),
            floats(random, shape),
          ],
          (b, [x, gamma, beta, dy]) => {
            const trained = b.batchNormTraining(x, shape, gamma, beta, 1e-5, true);
            const mask = trained.reluMask;
            assert.equal(mask === null, b === reference, 'a mask where oneDNN keeps one');
            const relu = mask === null ? { y: trained.y } : { mask };
            const grads = b.batchNormBackward(
              x,
              dy,
              shape,
              gamma,
              trained.mean,
              trained.variance,
              1e-5,
              relu,
            );
            if (mask !== null) b.release(mask);
            return [trained.y, trained.mean, trained.variance, grads.dx, grads.dgamma, grads.dbeta];
          },
        );
      }
    },
  );

  test(`softmax and log-softmax, forward and backward, agree [${layout}]`, { skip: skipNative }, () => {
    const random = generator(6);
    for (let i = 0; i < CASES; i++) {
      const shape = Array.from({ length: int(random, 1, 4) }, () => int(random, 1, 7));
      const axis = int(random, -shape.length, shape.length - 1);
      for (const log of [false, true]) {
        agree(
          `softmax ${JSON.stringify({ shape, axis, log })}`,
          layout,
          [floats(random, shape, 5), floats(random, shape)],
          (b, [x, dy]) => {
            const y = b.softmax(x, shape, axis, log);
            return [y, b.softmaxBackward(y, dy, shape, axis, log)];
          },
        );
      }
    }
  });

  test(`unary ops and activation gradients agree [${layout}]`, { skip: skipNative }, () => {
    const random = generator(7);
    const ops: UnaryOp[] = [
      'neg',
      'abs',
      'exp',
      'log',
      'sqrt',
      'square',
      'reciprocal',
      'relu',
      'sigmoid',
      'tanh',
      'scaledTanh',
      'sign',
    ];
    const activations: ActivationOp[] = ['relu', 'sigmoid', 'tanh', 'scaledTanh'];
    for (let i = 0; i < CASES / 2; i++) {
      const shape = pick(random, [
        [int(random, 1, 3), int(random, 1, 20), int(random, 1, 5), int(random, 1, 5)],
        [int(random, 1, 50)],
      ]);
      const x = floats(random, shape, 3);
      // Away from 0, where log, sqrt and reciprocal are steep.
      const positive = input(
        x.values.map((v) => 0.1 + Math.abs(v)),
        shape,
      );
      const apart = input(
        x.values.map((v) => (v < 0 ? v - 0.1 : v + 0.1)),
        shape,
      );
      for (const op of ops) {
        const source = op === 'log' || op === 'sqrt' ? positive : op === 'reciprocal' ? apart : x;
        agree(`${op} ${shape}`, layout, [source], (b, [v]) => b.unary(op, v, shape));
      }
      for (const op of activations) {
        agree(`${op} backward ${shape}`, layout, [x, floats(random, shape)], (b, [v, dy]) => {
          const y = b.unary(op, v, shape);
          return [y, b.activationBackward(op, v, y, dy, shape)];
        });
      }
    }
  });

  test(`binary ops agree under NumPy broadcasting [${layout}]`, { skip: skipNative }, () => {
    const random = generator(8);
    const ops: BinaryOp[] = [
      'add',
      'sub',
      'mul',
      'div',
      'maximum',
      'minimum',
      'pow',
      'equal',
      'greater',
      'less',
    ];
    for (let i = 0; i < CASES * 2; i++) {
      const outShape = Array.from({ length: int(random, 1, 4) }, () => int(random, 1, 5));
      if (i % 3 === 0)
        outShape.splice(0, outShape.length, int(random, 1, 3), 16, int(random, 1, 4), int(random, 1, 4));
      const broadcast = (): number[] => {
        const shape = outShape.map((d) => (random() < 0.3 ? 1 : d));
        return shape.slice(random() < 0.3 ? int(random, 0, shape.length) : 0);
      };
      const shapes = [
        [outShape, outShape],
        [outShape, broadcast()],
        [broadcast(), outShape],
        [outShape, [1]],
      ];
      for (const [aShape, bShape] of shapes) {
        // Quartered values, so equal, maximum and minimum meet ties.
        const a = input(
          floats(random, aShape, 2).values.map((v) => Math.round(v * 4) / 4),
          aShape,
        );
        const b = input(
          floats(random, bShape, 2).values.map((v) => Math.round(v * 4) / 4),
          bShape,
        );
        const away = input(
          b.values.map((v) => (v < 0 ? v - 0.5 : v + 0.5)),
          bShape,
        );
        const base = input(
          a.values.map((v) => 0.5 + Math.abs(v)),
          aShape,
        );
        const out = outShape.slice(outShape.length - Math.max(aShape.length, bShape.length));
        for (const op of ops) {
          const pair = op === 'div' ? [a, away] : op === 'pow' ? [base, b] : [a, b];
          agree(`${op} ${aShape} with ${bShape}`, layout, pair, (k, [u, v]) =>
            k.binary(op, u, aShape, v, bShape, out),
          );
        }
      }
    }
  });

  test(`axpby agrees, on one thread and on several [${layout}]`, { skip: skipNative }, () => {
    const random = generator(14);
    // The last shape is large enough (256 KB and up) to run on every thread.
    const shapes = [[1], [3, 5], [2, 16, 3, 3], [64, 64, 3, 3], [2, 16, 64, 64]];
    for (const shape of shapes) {
      const [x, y] = [floats(random, shape), floats(random, shape)];
      for (const [alpha, beta] of [
        [1, -0.1],
        [0.9, 1],
        [1, 5e-4],
      ]) {
        agree(`axpby ${alpha}, ${beta} on ${shape}`, layout, [x, y], (b, [u, v]) =>
          b.axpby(alpha, u, beta, v, shape),
        );
      }
    }
  });

  test(`reductions over any axes agree [${layout}]`, { skip: skipNative }, () => {
    const random = generator(9);
    const ops: ReduceOp[] = ['sum', 'max', 'min'];
    for (let i = 0; i < CASES * 2; i++) {
      const shape = Array.from({ length: int(random, 1, 4) }, () => int(random, 1, 6));
      if (i % 4 === 0)
        shape.splice(0, shape.length, int(random, 1, 3), 16, int(random, 1, 5), int(random, 1, 5));
      const axes = shape.map((_, a) => a).filter(() => random() < 0.5);
      const x = floats(random, shape);
      for (const op of ops)
        agree(`${op} ${shape} over ${axes}`, layout, [x], (b, [v]) => b.reduce(op, v, shape, axes));
    }
  });

  test(`batched matmul with either operand transposed agrees [${layout}]`, { skip: skipNative }, () => {
    const random = generator(10);
    const cases = Array.from({ length: CASES * 2 }, () => [
      int(random, 1, 3),
      int(random, 1, 9),
      int(random, 1, 9),
      int(random, 1, 9),
    ]);
    // One row times a transposed matrix runs as an inner product: [1, 1, k, n] with transposeB.
    cases.push([1, 64, 128, 32], [2, 17, 33, 5], [1, 1, 300, 7], [1, 1, 1, 5]);
    for (const [batch, m, k, n] of cases) {
      for (const [ta, tb] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ]) {
        agree(
          `matmul ${[batch, m, k, n]} ${ta} ${tb}`,
          layout,
          [floats(random, [batch * m * k]), floats(random, [batch * k * n])],
          (b, [u, v]) => b.matmul(u, v, batch, m, k, n, ta, tb),
        );
      }
    }
  });

  test(
    `permute, slice, pad, concat, reshape and cast agree, float32 and int32 [${layout}]`,
    { skip: skipNative },
    () => {
      const random = generator(11);
      for (let i = 0; i < CASES; i++) {
        const shape = Array.from({ length: int(random, 1, 4) }, () => int(random, 1, 5));
        if (i % 3 === 0)
          shape.splice(
            0,
            shape.length,
            int(random, 1, 2),
            int(random, 1, 17),
            int(random, 1, 4),
            int(random, 1, 4),
          );
        const f = floats(random, shape, 10);
        const ints = input(Int32Array.from(f.values, Math.trunc), shape);
        const perm = shape.map((_, a) => a).sort(() => random() - 0.5);
        const begin = shape.map((d) => int(random, 0, d - 1));
        const size = shape.map((d, a) => int(random, 1, d - begin[a]));
        const before = shape.map(() => int(random, 0, 2));
        const after = shape.map(() => int(random, 0, 2));
        const axis = int(random, 0, shape.length - 1);
        const other = shape.map((d, a) => (a === axis ? int(random, 1, 3) : d));
        const flat = [sizeOf(shape)];
        for (const x of [f, ints]) {
          const second =
            x.values instanceof Int32Array
              ? input(new Int32Array(sizeOf(other)).fill(7), other)
              : floats(random, other);
          agree(`movement ${shape} (${x.values.constructor.name})`, layout, [x, second], (b, [v, w]) => [
            b.permute(v, shape, perm),
            b.slice(v, shape, begin, size),
            b.pad(v, shape, before, after, -3),
            b.concat([v, w, v], [shape, other, shape], axis),
            b.reshape(v, shape, flat),
            b.cast(v, shape, 'float32'),
            b.cast(v, shape, 'int32'),
          ]);
        }
      }
    },
  );

  test(
    `channel concat of whole 16-channel blocks, and of parts that are not [${layout}]`,
    { skip: skipNative },
    () => {
      const random = generator(12);
      const [a, b, c] = [
        [2, 16, 5, 3],
        [2, 32, 5, 3],
        [2, 8, 5, 3],
      ];
      agree(
        'concat of blocks',
        layout,
        [floats(random, a), floats(random, b), floats(random, c)],
        (backend, [x, y, z]) => [
          backend.concat([x, y, x], [a, b, a], 1),
          backend.concat([x, z, y], [a, c, b], 1),
        ],
      );
    },
  );

  test(
    `channel pad and slice by whole 16-channel blocks (option A's shortcut), and not [${layout}]`,
    { skip: skipNative },
    () => {
      const random = generator(13);
      const [narrow, wide] = [
        [2, 16, 5, 3],
        [2, 32, 5, 3],
      ];
      agree(
        'pad and slice by blocks',
        layout,
        [floats(random, narrow), floats(random, wide)],
        (backend, [x, y]) => {
          const padded = backend.pad(x, narrow, [0, 0, 1, 0], [0, 16, 0, 2], 0);
          return [
            padded,
            backend.slice(padded, [2, 32, 6, 5], [0, 0, 1, 0], narrow),
            backend.slice(y, wide, [1, 16, 1, 1], [1, 16, 3, 2]),
            backend.pad(x, narrow, [0, 8, 0, 0], [0, 0, 0, 0], -1),
            backend.slice(y, wide, [0, 8, 0, 0], [2, 16, 5, 3]),
          ];
        },
      );
    },
  );

  test(`oneHot and im2col agree [${layout}]`, { skip: skipNative }, () => {
    const random = generator(12);
    const labels = input(
      Int32Array.from({ length: 9 }, () => int(random, 0, 6)),
      [9],
    );
    agree('oneHot', layout, [labels], (b, [l]) => b.oneHot(l, 9, 7));
    for (let i = 0; i < CASES; i++) {
      const c = randomConv(random);
      agree(`im2col ${JSON.stringify(c)}`, layout, [floats(random, c.xShape)], (b, [x]) =>
        b.im2col(x, c.xShape, [c.wShape[2], c.wShape[3]], c.attrs),
      );
    }
  });
}

test(
  "a 3×3 convolution with 32 channels over 32 tiles runs by Winograd, within 1e-5 of the largest of the direct kernel's values",
  { skip: skipNative },
  () => {
    const backend = native();
    const random = generator(7);
    const c = winogradCase;
    const yShape = conv2dOutputShape(c.xShape, c.wShape, c.attrs);
    const inputs = [floats(random, c.xShape), floats(random, c.wShape), floats(random, yShape)];
    const passes = (winograd: boolean): Float32Array[] => {
      backend.setWinograd(winograd);
      const [x, w, dy] = inputs.map((i) => backend.upload(i.values, i.shape));
      const outputs = [
        backend.conv2d(x, c.xShape, w, c.wShape, null, c.attrs),
        backend.conv2dBackwardData(dy, yShape, w, c.wShape, c.xShape, c.attrs),
        backend.conv2dBackwardFilter(x, c.xShape, dy, yShape, c.wShape, c.attrs),
      ];
      const values = outputs.map((o) => backend.read(o, [o.size]) as Float32Array);
      for (const s of [x, w, dy, ...outputs]) backend.release(s);
      return values;
    };
    const direct = passes(false);
    const winograd = passes(true);
    for (const [i, pass] of ['forward', 'backward-data', 'backward-weights'].entries()) {
      assert.ok(
        winograd[i].some((v, j) => v !== direct[i][j]),
        `${pass}: the same bits as the direct kernel's, so not Winograd's`,
      );
      const largest = Math.max(...direct[i].map(Math.abs));
      const furthest = Math.max(...winograd[i].map((v, j) => Math.abs(v - direct[i][j])));
      assert.ok(
        furthest <= 1e-5 * largest,
        `${pass}: Winograd ${furthest} from direct, largest value ${largest}`,
      );
    }
  },
);

test(
  'weights keep their reordered copy for later calls unless they are being trained',
  { skip: skipNative },
  () => {
    const backend = native();
    const c = winogradCase;
    const yShape = conv2dOutputShape(c.xShape, c.wShape, c.attrs);
    const x = backend.fill(c.xShape, 1, 'float32');
    const dy = backend.fill(yShape, 1, 'float32');
    // The live bytes a forward and a backward-data call leave behind them, and the forward's output.
    const leftBehind = (trainedWeights: boolean): [number, Float32Array] => {
      const w = backend.fill(c.wShape, 0.5, 'float32');
      const before = backend.memory().bytes;
      const outputs = [
        backend.conv2d(x, c.xShape, w, c.wShape, null, c.attrs, { trainedWeights }),
        backend.conv2dBackwardData(dy, yShape, w, c.wShape, c.xShape, c.attrs, trainedWeights),
      ];
      const [y] = outputs.map((o) => backend.read(o, [o.size]) as Float32Array);
      for (const o of outputs) backend.release(o);
      const left = backend.memory().bytes - before;
      backend.release(w);
      return [left, y];
    };
    const [trainedLeft, trainedY] = leftBehind(true);
    const [frozenLeft, frozenY] = leftBehind(false);
    assert.equal(trainedLeft, 0, 'trained weights: no copy kept');
    assert.ok(
      frozenLeft >= sizeOf(c.wShape) * 4,
      `frozen weights: ${frozenLeft} bytes kept, a copy at least`,
    );
    assert.deepEqual(trainedY, frozenY);
    backend.release(x);
    backend.release(dy);
  },
);

test(
  'native storage: counts, release, use after release, fill, int32 round trip',
  { skip: skipNative },
  () => {
    const backend = native();
    // Live storages only: what the reuse pool holds (pooledBytes, heldBytes) moves with every allocation.
    const live = () => {
      const { storages, bytes, collected } = backend.memory();
      return { storages, bytes, collected };
    };
    const before = live();
    const x = backend.upload(new Int32Array([1, -2, 3]), [3]);
    const y = backend.fill([2, 2], 0.5, 'float32');
    assert.deepEqual(live(), {
      storages: before.storages + 2,
      bytes: before.bytes + 12 + 16,
      collected: before.collected,
    });
    assert.deepEqual(Array.from(backend.read(x, [3])), [1, -2, 3]);
    assert.ok(backend.read(x, [3]) instanceof Int32Array);
    assert.deepEqual(Array.from(backend.read(y, [2, 2])), [0.5, 0.5, 0.5, 0.5]);
    backend.release(x);
    backend.release(x);
    backend.release(y);
    assert.deepEqual(live(), before);
    const { pooledBytes, heldBytes, peakBytes } = backend.memory();
    assert.ok(pooledBytes! >= 64 && heldBytes! >= pooledBytes!, 'the released blocks wait in the pool');
    assert.ok(peakBytes! >= before.bytes + 28, 'the peak in use counts both storages');
    assert.throws(() => backend.read(x, [3]), BackendError);
    assert.throws(() => backend.unary('relu', y, [2, 2]), /released/);
    assert.throws(() => backend.read(foreignStorage(), [1]), /another backend/);
  },
);

test('native errors are BackendErrors or ShapeErrors, never crashes', { skip: skipNative }, () => {
  const backend = native();
  const x = backend.upload(new Float32Array(6), [2, 3]);
  assert.throws(() => backend.unary('relu', x, [7]), BackendError);
  assert.throws(() => backend.matmul(x, x, 1, 2, 3, 4, false, false), BackendError);
  const w = backend.upload(new Float32Array(8), [2, 1, 2, 2]);
  assert.throws(
    () =>
      backend.conv2d(x, [1, 1, 1, 6], w, [2, 1, 2, 2], null, {
        stride: [1, 1],
        padding: [0, 0, 0, 0],
        dilation: [1, 1],
        groups: 1,
      }),
    /shape|kernel larger/i,
  );
  backend.release(x);
  backend.release(w);
});

/** A storage no native backend made. */
function foreignStorage() {
  return { dtype: 'float32' as const, size: 1 };
}

test(
  'blocked layouts flow from convolution through batch norm, ReLU and pooling, and plain mode keeps none',
  { skip: skipNative },
  () => {
    const backend = native();
    const random = generator(13);
    const xShape = [2, 16, 8, 8];
    const wShape = [32, 16, 3, 3];
    const attrs: Conv2dAttrs = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 };
    const pool: Pool2dAttrs = {
      kernel: [2, 2],
      stride: [2, 2],
      padding: [0, 0, 0, 0],
      ceilMode: false,
      countIncludePad: true,
    };
    for (const blocked of [true, false]) {
      backend.setBlockedLayouts(blocked);
      const x = backend.upload(randomArray(random, sizeOf(xShape)), xShape);
      const w = backend.upload(randomArray(random, sizeOf(wShape)), wShape);
      const gamma = backend.fill([32], 1, 'float32');
      const beta = backend.fill([32], 0, 'float32');
      const yShape = [2, 32, 8, 8];
      const y = backend.conv2d(x, xShape, w, wShape, null, attrs);
      const normed = backend.batchNormTraining(y, yShape, gamma, beta, 1e-5);
      const activated = backend.unary('relu', normed.y, yShape);
      const pooled = backend.pool2d('max', activated, yShape, pool);
      const outputs = [y, normed.y, activated, pooled.y];
      assert.deepEqual(
        outputs.map((s) => backend.isBlocked(s)),
        outputs.map(() => blocked),
        `blocked ${blocked}`,
      );
      assert.equal(backend.isBlocked(x), false, 'uploads are plain');
      for (const s of [x, w, gamma, beta, normed.mean, normed.variance, pooled.workspace!, ...outputs])
        backend.release(s);
    }
    backend.setBlockedLayouts(true);
  },
);
