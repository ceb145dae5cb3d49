// Inception v3, Inception-v4 and Inception-ResNet-v2 exported to ONNX at their smallest input (75×75) and run back:
// re-imported by convnets and in onnxruntime-node, against the model's own output. Their parts beyond GoogLeNet's:
// 1×7 / 7×1 kernels with uneven padding, average pooling without counting the padding, the residual scaling.
import { test } from 'node:test';
import { decodeOnnx, encodeOnnx } from '../../src/io/onnx/index.js';
import * as models from '../../src/models/index.js';
import type { Module } from '../../src/nn/index.js';
import { Generator, noGrad, randn, type Tensor } from '../../src/tensor/index.js';
import { assertClose, loadOnnxRuntime } from './helpers.js';

function forward(net: Module, x: Tensor): Float32Array {
  return noGrad(() => net.call(x)).data() as Float32Array;
}

for (const [name, options] of [
  ['inception_v3', { auxLogits: false, numClasses: 10 }],
  ['inception_v4', { numClasses: 10 }],
  ['inception_resnet_v2', { numClasses: 10 }],
] as const) {
  test(`${name} round-trips through ONNX at 1×3×75×75 (re-import, onnxruntime)`, async (t) => {
    const net = models.get(name, { ...options, seed: 3 }).eval();
    const shape = [1, 3, 75, 75];
    const bytes = encodeOnnx(net, shape);
    const x = randn(shape, { generator: new Generator(7) });
    const expected = forward(net, x);
    assertClose(forward(decodeOnnx(bytes), x), expected, 1e-4, `${name} re-imported`);
    const ort = loadOnnxRuntime().module;
    if (ort === null) return t.diagnostic('onnxruntime-node not installed: onnxruntime comparison skipped');
    const session = await ort.InferenceSession.create(bytes);
    const outputs = await session.run({ input: new ort.Tensor('float32', x.data() as Float32Array, shape) });
    assertClose(outputs.output.data, expected, 1e-4, `${name} in onnxruntime`);
  });
}
