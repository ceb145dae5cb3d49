// Every kernel of the wasm backend against the reference backend on randomised shapes, and on shapes past the GEMM's
// blocking (more than 128 rows, 256 deep, 1024 columns); each also checks whether it ran in wasm or was handed to the
// reference backend, as src/backend/wasm/reference-kernels.ts lists. Skipped where the .wasm is not built.
import { test } from 'node:test';
import type {
  ActivationOp,
  BinaryOp,
  Conv2dAttrs,
  Pool2dAttrs,
  ReduceOp,
  UnaryOp,
} from '../../../src/backend/backend.js';
import { conv2dOutputShape, pool2dOutputShape, sizeOf } from '../../../src/backend/shapes.js';
import { generator, randomArray } from '../reference/helpers.js';
import { type Input, agree, skipWasm } from './helpers.js';

type Random = () => number;
const int = (random: Random, low: number, high: number) => low + Math.floor(random() * (high - low + 1));
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)];
const floats = (random: Random, shape: number[], scale = 1): Input => ({
  values: randomArray(random, sizeOf(shape)).map((v) => v * scale),
  shape,
});

interface ConvCase {
  xShape: number[];
  wShape: number[];
  attrs: Conv2dAttrs;
}

function randomConv(random: Random): ConvCase {
  const kind = pick(random, ['dense', 'grouped', 'depthwise'] as const);
  const groups = kind === 'dense' ? 1 : int(random, 2, 4);
  const inPerGroup = kind === 'depthwise' ? 1 : int(random, 1, 4);
  const outPerGroup = int(random, 1, 6);
  const kernel = [int(random, 1, 4), int(random, 1, 4)];
  const dilation: [number, number] = [int(random, 1, 2), int(random, 1, 2)];
  const span = kernel.map((k, i) => dilation[i] * (k - 1) + 1);
  return {
    xShape: [
      int(random, 1, 3),
      groups * inPerGroup,
      span[0] + int(random, 0, 9),
      span[1] + int(random, 0, 9),
    ],
    wShape: [groups * outPerGroup, inPerGroup, kernel[0], kernel[1]],
    attrs: {
      stride: [int(random, 1, 3), int(random, 1, 3)],
      padding: [int(random, 0, 2), int(random, 0, 2), int(random, 0, 2), int(random, 0, 2)],
      dilation,
      groups,
    },
  };
}

const dense = (stride: number, padding: number): Conv2dAttrs => ({
  stride: [stride, stride],
  padding: [padding, padding, padding, padding],
  dilation: [1, 1],
  groups: 1,
});

/** Past every block of the packed GEMM (MC 128 rows, KC 256 deep, NC 1024 columns), and ResNet-like layers. */
const blockedConvs: ConvCase[] = [
  { xShape: [1, 30, 33, 32], wShape: [132, 30, 3, 3], attrs: dense(1, 1) },
  { xShape: [2, 16, 16, 16], wShape: [32, 16, 3, 3], attrs: dense(2, 1) },
  { xShape: [2, 32, 8, 8], wShape: [64, 32, 1, 1], attrs: dense(2, 0) },
  { xShape: [1, 3, 32, 32], wShape: [16, 3, 5, 5], attrs: dense(1, 2) },
  // ResNet's stem: 7×7 at stride 2, whose rows of eight outputs pack by vector loads and shuffles inside the image.
  { xShape: [1, 3, 40, 40], wShape: [8, 3, 7, 7], attrs: dense(2, 3) },
];

function checkConv(c: ConvCase, random: Random, what: string): void {
  const yShape = conv2dOutputShape(c.xShape, c.wShape, c.attrs);
  const inputs = [
    floats(random, c.xShape),
    floats(random, c.wShape),
    floats(random, yShape),
    floats(random, [c.wShape[0]]),
  ];
  agree(
    what,
    inputs,
    (b, [x, w, dy, bias]) => [
      b.conv2d(x, c.xShape, w, c.wShape, null, c.attrs),
      b.conv2d(x, c.xShape, w, c.wShape, bias, c.attrs, { add: dy, relu: true }),
      b.conv2d(x, c.xShape, w, c.wShape, bias, c.attrs, { relu: true }),
      b.conv2dBackwardData(dy, yShape, w, c.wShape, c.xShape, c.attrs),
      b.conv2dBackwardFilter(x, c.xShape, dy, yShape, c.wShape, c.attrs),
    ],
    { onWasm: true },
  );
}

test(
  'convolution forward (with bias, sum and ReLU), backward-data and backward-weights agree',
  { skip: skipWasm },
  () => {
    const random = generator(1);
    for (let i = 0; i < 40; i++) {
      const c = randomConv(random);
      checkConv(c, random, `conv ${JSON.stringify(c)}`);
    }
    blockedConvs.forEach((c, i) => checkConv(c, random, `conv shape ${i}`));
  },
);

test('batched matmul with either operand transposed agrees, past the GEMM blocks', { skip: skipWasm }, () => {
  const random = generator(2);
  const sizes = [
    [1, 1, 1, 1],
    [3, 5, 7, 9],
    [2, 13, 4, 17],
    [1, 131, 259, 10],
    [1, 6, 3, 1030],
  ];
  for (const [batch, m, k, n] of sizes) {
    for (const [transposeA, transposeB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ]) {
      agree(
        `matmul ${batch}×${m}×${k}×${n} ${transposeA} ${transposeB}`,
        [floats(random, [batch, m, k]), floats(random, [batch, k, n])],
        (b, [x, y]) => b.matmul(x, y, batch, m, k, n, transposeA, transposeB),
        { onWasm: true },
      );
    }
  }
});

function randomPool(random: Random): { xShape: number[]; attrs: Pool2dAttrs } {
  const kernel: [number, number] = [int(random, 1, 4), int(random, 1, 4)];
  const half = kernel.map((k) => Math.floor(k / 2));
  return {
    xShape: [
      int(random, 1, 3),
      int(random, 1, 4),
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

test(
  'max and average pooling, forward and backward, agree (ceil mode, padding counted or not)',
  { skip: skipWasm },
  () => {
    const random = generator(3);
    for (let i = 0; i < 40; i++) {
      const { xShape, attrs } = randomPool(random);
      const yShape = pool2dOutputShape(xShape, attrs);
      for (const kind of ['max', 'avg'] as const) {
        agree(
          `${kind} pool ${JSON.stringify({ xShape, attrs })}`,
          [floats(random, xShape), floats(random, yShape)],
          (b, [x, dy]) => {
            const { y, workspace } = b.pool2d(kind, x, xShape, attrs);
            const dx = b.pool2dBackward(kind, dy, yShape, xShape, attrs, workspace);
            if (workspace !== null) b.release(workspace);
            return [y, dx, b.pool2d(kind, x, xShape, attrs, false).y];
          },
          { onWasm: true },
        );
      }
    }
  },
);

test(
  "max pooling four outputs at a time (ResNet's 3×3 stride 2, and stride 1) picks the reference's values and indices, ties and NaN included",
  { skip: skipWasm },
  () => {
    const random = generator(13);
    const xShape = [1, 2, 24, 27];
    for (const stride of [1, 2]) {
      const attrs: Pool2dAttrs = {
        kernel: [3, 3],
        stride: [stride, stride],
        padding: [1, 1, 1, 1],
        ceilMode: false,
        countIncludePad: false,
      };
      const yShape = pool2dOutputShape(xShape, attrs);
      const x = floats(random, xShape);
      // Runs of equal values (the first in window order wins) and NaN (which wins: the last in window order).
      for (let i = 0; i < x.values.length; i += 7) x.values[i + 1] = x.values[i];
      for (const at of [30, 31, 100, 333, 600, 1000]) x.values[at] = NaN;
      agree(
        `max pool stride ${stride} with ties and NaN`,
        [x, floats(random, yShape)],
        (b, [input, dy]) => {
          const { y, workspace } = b.pool2d('max', input, xShape, attrs);
          const dx = b.pool2dBackward('max', dy, yShape, xShape, attrs, workspace);
          if (workspace !== null) b.release(workspace);
          return [y, dx, b.pool2d('max', input, xShape, attrs, false).y];
        },
        { onWasm: true },
      );
    }
  },
);

test(
  'adaptive average pooling runs in wasm for even bins and on the reference for uneven ones',
  { skip: skipWasm },
  () => {
    const random = generator(4);
    const cases: [number[], [number, number], boolean][] = [
      [[2, 3, 8, 8], [1, 1], true],
      [[2, 3, 8, 6], [4, 3], true],
      [[1, 2, 7, 5], [3, 2], false],
    ];
    for (const [xShape, outSize, onWasm] of cases) {
      const yShape = [xShape[0], xShape[1], ...outSize];
      agree(
        `adaptive ${xShape} → ${outSize}`,
        [floats(random, xShape), floats(random, yShape)],
        (b, [x, dy]) => [
          b.adaptiveAvgPool2d(x, xShape, outSize),
          b.adaptiveAvgPool2dBackward(dy, yShape, xShape),
        ],
        { onWasm },
      );
    }
  },
);

test(
  'batch normalisation, training, inference and backward, agrees on 4-D and 2-D input',
  { skip: skipWasm },
  () => {
    const random = generator(5);
    for (const shape of [
      [4, 3, 5, 6],
      [2, 16, 8, 8],
      [7, 5],
    ]) {
      const channels = [shape[1]];
      const variance: Input = { values: randomArray(random, shape[1]).map((v) => v + 1.5), shape: channels };
      agree(
        `batch norm ${shape}`,
        [floats(random, shape, 3), floats(random, shape), floats(random, channels), floats(random, channels)],
        (b, [x, dy, gamma, beta]) => {
          const trained = b.batchNormTraining(x, shape, gamma, beta, 1e-5);
          const grads = b.batchNormBackward(x, dy, shape, gamma, trained.mean, trained.variance, 1e-5);
          const v = b.upload(variance.values, channels);
          const inference = b.batchNormInference(x, shape, gamma, beta, trained.mean, v, 1e-3);
          b.release(v);
          return [trained.y, trained.mean, trained.variance, grads.dx, grads.dgamma, grads.dbeta, inference];
        },
        { onWasm: true },
      );
    }
  },
);

test('softmax and log-softmax, forward and backward, agree along every axis', { skip: skipWasm }, () => {
  const random = generator(6);
  for (const shape of [
    [5, 10],
    [2, 3, 4, 5],
    [1, 1],
  ]) {
    for (let axis = -1; axis < shape.length; axis++) {
      for (const log of [false, true]) {
        agree(
          `softmax ${shape} axis ${axis} log ${log}`,
          [floats(random, shape, 8), floats(random, shape)],
          (b, [x, dy]) => {
            const y = b.softmax(x, shape, axis, log);
            return [y, b.softmaxBackward(y, dy, shape, axis, log)];
          },
          { tolerance: 2e-5, onWasm: true },
        );
      }
    }
  }
});

test('unary ops and activation gradients agree; log runs on the reference', { skip: skipWasm }, () => {
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
  ];
  ops.push('scaledTanh', 'sign');
  const activations: ActivationOp[] = ['relu', 'sigmoid', 'tanh', 'scaledTanh'];
  for (const shape of [[7], [3, 4, 5], [1]]) {
    const wide = floats(random, shape, 6);
    // Zeros, signed zeros and NaN where the ops treat them specially; exp's range ends.
    wide.values.set([0, -0, NaN, 88, -100, 1e-3].slice(0, wide.values.length));
    const positive: Input = { values: wide.values.map((v) => Math.abs(v) + 0.1), shape };
    for (const op of ops) {
      const source = op === 'log' || op === 'sqrt' || op === 'reciprocal' ? positive : wide;
      agree(`${op} ${shape}`, [source], (b, [v]) => b.unary(op, v, shape), {
        tolerance: 2e-6,
        onWasm: op !== 'log',
      });
    }
    for (const op of activations) {
      agree(
        `${op} backward ${shape}`,
        [floats(random, shape, 4), floats(random, shape)],
        (b, [x, dy]) => {
          const y = b.unary(op, x, shape);
          return [y, b.activationBackward(op, x, y, dy, shape)];
        },
        { tolerance: 2e-6, onWasm: true },
      );
    }
  }
});

test('binary ops agree under NumPy broadcasting; pow runs on the reference', { skip: skipWasm }, () => {
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
  const pairs: [number[], number[]][] = [
    [
      [2, 3, 4, 5],
      [2, 3, 4, 5],
    ],
    [
      [2, 3, 4, 5],
      [1, 3, 1, 1],
    ],
    [[2, 3, 4, 5], [1]],
    [[1], [2, 3, 4, 5]],
    [
      [4, 1, 6],
      [5, 1],
    ],
    [
      [3, 1, 5],
      [1, 4, 1],
    ],
    [[2, 3], [3]],
    [
      [1, 1],
      [1, 1],
    ],
    [
      [2, 1, 3, 1, 2, 1, 2, 1, 2],
      [1, 2, 1, 2, 1, 2, 1, 2, 1],
    ],
  ];
  // 17 dimensions that broadcast in turn: more than the wasm kernel takes, so the reference runs it.
  const alternating = Array.from({ length: 17 }, (_, i) => (i % 2 === 0 ? 2 : 1));
  const other = alternating.map((d) => 3 - d);
  for (const [aShape, bShape] of pairs) {
    const outShape = aShape.length >= bShape.length ? [...aShape] : [...bShape];
    const offsetA = outShape.length - aShape.length;
    const offsetB = outShape.length - bShape.length;
    for (let d = 0; d < outShape.length; d++) {
      outShape[d] = Math.max(aShape[d - offsetA] ?? 1, bShape[d - offsetB] ?? 1);
    }
    for (const op of ops) {
      const a = floats(random, aShape, 3);
      const b = floats(random, bShape, 3);
      // Equal values and NaN, where comparisons and maximum/minimum choose.
      b.values[0] = a.values[0];
      if (b.values.length > 2) b.values[1] = NaN;
      if (op === 'pow') a.values.forEach((v, i) => (a.values[i] = Math.abs(v) + 0.5));
      agree(
        `${op} ${aShape} with ${bShape}`,
        [a, b],
        (k, [u, v]) => k.binary(op, u, aShape, v, bShape, outShape),
        { tolerance: 1e-6, onWasm: op !== 'pow' },
      );
    }
  }
  const outShape = alternating.map(() => 2);
  agree(
    'add over 17 alternating dimensions',
    [floats(random, alternating), floats(random, other)],
    (k, [u, v]) => k.binary('add', u, alternating, v, other, outShape),
    { tolerance: 0, onWasm: false },
  );
});

test(
  'reductions over any axes agree (NaN wins max and min); empty inputs run on the reference',
  { skip: skipWasm },
  () => {
    const random = generator(12);
    const ops: ReduceOp[] = ['sum', 'max', 'min'];
    const cases: [number[], number[]][] = [
      [
        [2, 3, 4, 5],
        [0, 2, 3],
      ],
      [[2, 3, 4, 5], [1]],
      [[2, 3, 4, 5], [3]],
      [
        [2, 3, 4, 5],
        [0, 1, 2, 3],
      ],
      [[2, 3, 4, 5], []],
      [[7, 1, 9], [0]],
      [[300, 130], [0]],
    ];
    for (const [shape, axes] of cases) {
      for (const op of ops) {
        const x = floats(random, shape, 4);
        x.values[3] = NaN;
        agree(`reduce ${op} ${shape} over ${axes}`, [x], (b, [v]) => b.reduce(op, v, shape, axes), {
          tolerance: 1e-6,
          onWasm: true,
        });
      }
    }
    agree(
      'reduce sum over an empty input',
      [{ values: new Float32Array(0), shape: [0, 3] }],
      (b, [v]) => b.reduce('sum', v, [0, 3], [0]),
      { tolerance: 0, onWasm: false },
    );
  },
);

test('axpby agrees', { skip: skipWasm }, () => {
  const random = generator(9);
  for (const shape of [[1], [13], [4, 5, 6]]) {
    agree(
      `axpby ${shape}`,
      [floats(random, shape), floats(random, shape)],
      (b, [x, y]) => b.axpby(0.9, x, -0.1, y, shape),
      { tolerance: 0, onWasm: true },
    );
  }
});

test('cast, reshape and fill run in wasm memory and agree, float32 and int32', { skip: skipWasm }, () => {
  const random = generator(10);
  const shape = [3, 4, 5];
  const values = floats(random, shape, 10);
  agree(
    'cast and reshape',
    [values],
    (b, [x]) => {
      const ints = b.cast(x, shape, 'int32');
      return [
        ints,
        b.cast(ints, shape, 'float32'),
        b.reshape(x, shape, [12, 5]),
        b.reshape(ints, shape, [60]),
      ];
    },
    { tolerance: 0, onWasm: true },
  );
  agree('fill', [], (b) => [b.fill([2, 3], 1.5, 'float32'), b.fill([4], -2, 'int32')], { tolerance: 0 });
});

test(
  'the kernels the table hands to the reference backend agree, int32 where they move values',
  { skip: skipWasm },
  () => {
    const random = generator(11);
    const shape = [2, 3, 4, 5];
    const ints: Input = { values: Int32Array.from({ length: 120 }, (_, i) => (i * 7) % 13), shape };
    for (const x of [floats(random, shape), ints]) {
      agree(
        `movement (${x.values.constructor.name})`,
        [x, x],
        (b, [v, w]) => [
          b.permute(v, shape, [0, 2, 3, 1]),
          b.slice(v, shape, [0, 1, 1, 2], [2, 2, 3, 3]),
          b.pad(v, shape, [0, 0, 1, 2], [0, 0, 2, 1], 0),
          b.concat([v, w], [shape, shape], 1),
        ],
        { tolerance: 0, onWasm: false },
      );
    }
    const labels: Input = { values: Int32Array.from([0, 3, 6, 2]), shape: [4] };
    agree('oneHot', [labels], (b, [l]) => b.oneHot(l, 4, 7), { tolerance: 0, onWasm: false });
    const conv = randomConv(random);
    agree('im2col', [floats(random, conv.xShape)], (b, [x]) =>
      b.im2col(x, conv.xShape, [conv.wShape[2], conv.wShape[3]], conv.attrs),
    );
    const lrn = { size: 3, alpha: 1e-2, beta: 0.75, k: 2 };
    agree('lrn', [floats(random, shape), floats(random, shape)], (b, [x, dy]) => [
      b.lrn(x, shape, lrn),
      b.lrnBackward(x, dy, shape, lrn),
    ]);
    agree('resize', [floats(random, shape), floats(random, [2, 3, 8, 10])], (b, [x, dy]) => [
      b.resize2d(x, shape, [8, 10], 'bilinear'),
      b.resize2dBackward(dy, [2, 3, 8, 10], shape, 'nearest'),
    ]);
  },
);
