// convnets' runners of the benchmark page (page.mjs's protocol: run, images, flops, about, dispose), built in the
// module worker convnets-worker.mjs, where the wasm backend's pool of threads may block.
export const TRAIN_BATCH = 64;
/** Workload 3, as bench/bench.mjs: 3×3, 64→64, padding 1 on 128×64×32×32. */
export const CONV = { x: [128, 64, 32, 32], w: [64, 64, 3, 3] };
export const CONV_FLOPS = 2 * 128 * 64 * 32 * 32 * 64 * 9;

export const random = (n) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
export const size = (shape) => shape.reduce((a, b) => a * b, 1);
const parameterTotal = (net) => net.parameters().reduce((n, p) => n + size(p.shape), 0);

function inference(convnets, name) {
  const shape = [1, 3, 224, 224];
  const net = convnets.models.get(name, { seed: 1 }).eval();
  // What a user runs for inference, as bench/inference.mjs: BatchNorm folded, sums and ReLUs fused.
  const model = convnets.graph.optimizeForInference(net, shape);
  const x = convnets.randn(shape);
  return {
    run: () => convnets.noGrad(() => convnets.scope(() => model.call(x).data())),
    about: { parameters: parameterTotal(net) },
    dispose: () => [...net.parameters(), ...net.buffers(), x].forEach((t) => t.dispose()),
  };
}

function training(convnets, name) {
  const net = convnets.models.get(name, { seed: 1 });
  const channels = name === 'lenet5' ? 1 : 3;
  const x = convnets.randn([TRAIN_BATCH, channels, 32, 32]);
  const labels = convnets.tensor(
    Int32Array.from({ length: TRAIN_BATCH }, (_, i) => i % 10),
    [TRAIN_BATCH],
    { dtype: 'int32' },
  );
  const optimizer = convnets.optim.sgd(net.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  return {
    run: () =>
      convnets.scope(() => {
        optimizer.zeroGrad();
        const loss = convnets.crossEntropy(net.call(x), labels);
        loss.backward();
        optimizer.step();
        return loss.item();
      }),
    images: TRAIN_BATCH,
    about: { parameters: parameterTotal(net), batch: TRAIN_BATCH },
    dispose: () => [...net.parameters(), ...net.buffers(), x, labels].forEach((t) => t.dispose()),
  };
}

/** The wasm backend's convolution kernels alone, as bench/bench.mjs times the native ones. */
function convolution(convnets, direction) {
  const backend = convnets.getBackend();
  const attrs = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 };
  const x = backend.upload(random(size(CONV.x)), CONV.x);
  const w = backend.upload(random(size(CONV.w)), CONV.w);
  const dy = backend.upload(random(size(CONV.x)), CONV.x);
  const cases = {
    forward: () => backend.conv2d(x, CONV.x, w, CONV.w, null, attrs),
    'backward-data': () => backend.conv2dBackwardData(dy, CONV.x, w, CONV.w, CONV.x, attrs),
    'backward-weights': () => backend.conv2dBackwardFilter(x, CONV.x, dy, CONV.x, CONV.w, attrs),
  };
  return {
    run: () => backend.release(cases[direction]()),
    flops: CONV_FLOPS,
    dispose: () => [x, w, dy].forEach((s) => backend.release(s)),
  };
}

/** Runner id ('train.lenet5:convnets') → its builder, given the library. */
export const convnetsBuilders = {
  'infer.resnet18:convnets': (convnets) => inference(convnets, 'resnet18'),
  'train.lenet5:convnets': (convnets) => training(convnets, 'lenet5'),
  'train.resnet20:convnets': (convnets) => training(convnets, 'resnet20'),
  'conv.forward:convnets': (convnets) => convolution(convnets, 'forward'),
  'conv.backward-data:convnets': (convnets) => convolution(convnets, 'backward-data'),
  'conv.backward-weights:convnets': (convnets) => convolution(convnets, 'backward-weights'),
};
