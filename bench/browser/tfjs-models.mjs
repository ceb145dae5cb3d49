// The benchmark's networks in TensorFlow.js ops (NHWC, TensorFlow's layout), to the shapes of convnets' models:
// LeNet-5 (models/lenet.ts: ReLU, max pooling) and CIFAR ResNet-20 option A (models/cifar-resnet.ts) for training,
// ResNet-18 (torchvision's) for inference. Random weights, scaled as He's initialisation so values stay finite.
// `parameters` counts what convnets' summary counts (weights, biases, BatchNorm's scale and shift; not the running
// statistics), and bench.mjs refuses a run where it differs from convnets' count.

/** The number of values of `tensors`. */
export const parameterCount = (tensors) => tensors.reduce((n, t) => n + t.size, 0);

function heNormal(tf, shape, fanIn) {
  return tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn));
}

/** A trainable parameter set: `add` makes a variable and remembers it. */
function parameterSet(tf) {
  const variables = [];
  const add = (initial) => {
    const v = tf.variable(initial);
    variables.push(v);
    return v;
  };
  return {
    variables,
    conv: (k, cin, cout, bias) => ({
      w: add(heNormal(tf, [k, k, cin, cout], k * k * cin)),
      b: bias ? add(tf.zeros([cout])) : null,
    }),
    linear: (cin, cout) => ({ w: add(heNormal(tf, [cin, cout], cin)), b: add(tf.zeros([cout])) }),
    batchNorm: (c) => ({ gamma: add(tf.ones([c])), beta: add(tf.zeros([c])) }),
  };
}

const same = (pad) => [
  [0, 0],
  [pad, pad],
  [pad, pad],
  [0, 0],
];

function conv(tf, x, p, stride, pad) {
  const y = tf.conv2d(x, p.w, stride, pad === 0 ? 'valid' : same(pad));
  return p.b === null ? y : tf.add(y, p.b);
}

/** Batch norm in training mode: the batch's own mean and variance over N, H and W. */
function batchNorm(tf, x, p) {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, p.beta, p.gamma, 1e-5);
}

const linear = (tf, x, p) => tf.add(tf.matMul(x, p.w), p.b);

function lenet5(tf, params) {
  const c1 = params.conv(5, 1, 6, true);
  const c3 = params.conv(5, 6, 16, true);
  const [f5, f6, out] = [params.linear(400, 120), params.linear(120, 84), params.linear(84, 10)];
  return (x) => {
    let y = tf.maxPool(tf.relu(conv(tf, x, c1, 1, 0)), 2, 2, 'valid');
    y = tf.maxPool(tf.relu(conv(tf, y, c3, 1, 0)), 2, 2, 'valid');
    y = tf.reshape(y, [y.shape[0], 400]);
    return linear(tf, tf.relu(linear(tf, tf.relu(linear(tf, y, f5)), f6)), out);
  };
}

/** ResNet-20, option A: the shortcut keeps x[:, ::2, ::2, :] (a 1×1 average pool, as convnets) and pads channels. */
function resnet20(tf, params) {
  const stem = { conv: params.conv(3, 3, 16, false), bn: params.batchNorm(16) };
  const blocks = [];
  let inPlanes = 16;
  for (const [planes, firstStride] of [
    [16, 1],
    [32, 2],
    [64, 2],
  ]) {
    for (let i = 0; i < 3; i++) {
      const stride = i === 0 ? firstStride : 1;
      blocks.push({
        conv1: params.conv(3, inPlanes, planes, false),
        bn1: params.batchNorm(planes),
        conv2: params.conv(3, planes, planes, false),
        bn2: params.batchNorm(planes),
        stride,
        grow: planes - inPlanes,
      });
      inPlanes = planes;
    }
  }
  const fc = params.linear(64, 10);
  return (x) => {
    let y = tf.relu(batchNorm(tf, conv(tf, x, stem.conv, 1, 1), stem.bn));
    for (const b of blocks) {
      let shortcut = b.stride === 1 ? y : tf.avgPool(y, 1, b.stride, 'valid');
      if (b.grow > 0)
        shortcut = tf.pad(shortcut, [
          [0, 0],
          [0, 0],
          [0, 0],
          [0, b.grow],
        ]);
      const z = tf.relu(batchNorm(tf, conv(tf, y, b.conv1, b.stride, 1), b.bn1));
      y = tf.relu(tf.add(batchNorm(tf, conv(tf, z, b.conv2, 1, 1), b.bn2), shortcut));
    }
    return linear(tf, tf.mean(y, [1, 2]), fc);
  };
}

/**
 * A training step as convnets' (bench/browser/page.mjs): forward, softmax cross-entropy, backward, SGD with momentum
 * 0.9 and weight decay 5e-4 (as an L2 term of the loss, whose gradient is the decay) at batch `batch`, 32×32 inputs.
 */
export function tfjsTrainingModel(tf, name, batch) {
  const params = parameterSet(tf);
  const forward = name === 'lenet5' ? lenet5(tf, params) : resnet20(tf, params);
  const channels = name === 'lenet5' ? 1 : 3;
  const x = tf.randomNormal([batch, 32, 32, channels]);
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: batch }, (_, i) => i % 10),
      'int32',
    ),
    10,
  );
  const optimizer = tf.train.momentum(0.01, 0.9);
  const decay = () => tf.mul(2.5e-4, tf.addN(params.variables.map((v) => tf.sum(tf.square(v)))));
  return {
    parameters: parameterCount(params.variables),
    step: () => {
      const loss = optimizer.minimize(
        () => tf.add(tf.losses.softmaxCrossEntropy(labels, forward(x)), decay()),
        true,
        params.variables,
      );
      const value = loss.dataSync()[0];
      loss.dispose();
      return value;
    },
    dispose: () => {
      optimizer.dispose();
      [...params.variables, x, labels].forEach((t) => t.dispose());
    },
  };
}

/**
 * torchvision's ResNet-18 for inference at batch 1, 224×224: each BatchNorm folded into the convolution before it
 * (a bias) and the ReLUs fused (tf.fused.conv2d), as onnxruntime and convnets' optimizeForInference do. With
 * initial statistics (mean 0, variance 1, scale 1, shift 0) folding leaves the weights as they are.
 */
export function tfjsResnet18(tf) {
  const params = parameterSet(tf);
  const unit = (k, cin, cout) => ({ ...params.conv(k, cin, cout, false), bn: params.batchNorm(cout) });
  const stem = unit(7, 3, 64);
  const blocks = [];
  let inPlanes = 64;
  for (const [planes, firstStride] of [
    [64, 1],
    [128, 2],
    [256, 2],
    [512, 2],
  ]) {
    for (let i = 0; i < 2; i++) {
      const stride = i === 0 ? firstStride : 1;
      const downsample = stride !== 1 || inPlanes !== planes ? unit(1, inPlanes, planes) : null;
      blocks.push({ conv1: unit(3, inPlanes, planes), conv2: unit(3, planes, planes), downsample, stride });
      inPlanes = planes;
    }
  }
  const fc = params.linear(512, 1000);
  // The folded bias: shift − mean × scale / √(variance + ε), with mean 0, that is the BatchNorm's shift.
  const fused = (x, p, stride, pad, activation) =>
    tf.fused.conv2d({
      x,
      filter: p.w,
      strides: stride,
      pad: pad === 0 ? 'valid' : same(pad),
      bias: p.bn.beta,
      activation,
    });
  return {
    parameters: parameterCount(params.variables),
    variables: params.variables,
    predict: (x) => {
      let y = tf.maxPool(fused(x, stem, 2, 3, 'relu'), 3, 2, 1);
      for (const b of blocks) {
        const shortcut = b.downsample === null ? y : fused(y, b.downsample, b.stride, 0, 'linear');
        const z = fused(y, b.conv1, b.stride, 1, 'relu');
        y = tf.relu(tf.add(fused(z, b.conv2, 1, 1, 'linear'), shortcut));
      }
      return linear(tf, tf.mean(y, [1, 2]), fc);
    },
  };
}
