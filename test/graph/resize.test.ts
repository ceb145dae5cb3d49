// Resize both ways: PyTorch's export of F.interpolate (nearest and bilinear, whole and uneven sizes, sizes computed
// from the input's shape) imports and matches PyTorch; convnets' Upsample exports as Resize and runs the same in
// onnxruntime, at the traced batch and, with batch 'dynamic', at another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeOnnx, encodeOnnx } from '../../src/io/onnx/index.js';
import { decodeModelProto } from '../../src/io/onnx/proto.js';
import { Conv2d, Module, Sequential, Upsample } from '../../src/nn/index.js';
import { Generator, noGrad, randn } from '../../src/tensor/index.js';
import { assertClose, loadOnnxRuntime, matchesPytorchExport } from './helpers.js';

test("PyTorch's export of F.interpolate (four Resize nodes) reproduces PyTorch's output", () => {
  const nodes = matchesPytorchExport('upsample');
  assert.equal(nodes.filter((n) => n.opType === 'Resize').length, 4);
});

function upsampler(): Module {
  const generator = new Generator(3);
  return new Sequential(
    new Conv2d(3, 4, 3, { padding: 1, generator }),
    new Upsample({ scaleFactor: 2 }),
    new Upsample({ size: [13, 11], mode: 'bilinear' }),
    new Upsample({ size: [9, 20] }),
    new Conv2d(4, 2, 1, { generator }),
    new Upsample({ size: [4, 5], mode: 'bilinear' }),
  );
}

test('Upsample exports as Resize and runs the same in onnxruntime, at any batch with batch dynamic', async (t) => {
  const net = upsampler().eval();
  const ort = loadOnnxRuntime().module;
  for (const dynamic of [false, true]) {
    const bytes = encodeOnnx(net, [1, 3, 6, 7], dynamic ? { batch: 'dynamic' } : {});
    const ops = decodeModelProto(bytes).graph.node.map((n) => n.opType);
    assert.equal(ops.filter((op) => op === 'Resize').length, 4);
    const back = decodeOnnx(bytes);
    for (const batch of dynamic ? [1, 3] : [1]) {
      const x = randn([batch, 3, 6, 7], { generator: new Generator(batch) });
      const expected = noGrad(() => net.call(x)).data();
      const what = `${dynamic ? 'dynamic' : 'fixed'} batch, batch ${batch}`;
      assertClose(noGrad(() => back.call(x)).data(), expected, 1e-5, `${what}, re-imported`);
      if (ort === null) continue;
      const session = await ort.InferenceSession.create(bytes);
      const { output } = await session.run({
        input: new ort.Tensor('float32', x.data() as Float32Array, x.shape),
      });
      assertClose(output.data, expected, 1e-5, `${what}, onnxruntime`);
    }
  }
  if (ort === null)
    t.diagnostic('onnxruntime-node not installed: re-import checked, onnxruntime comparison skipped');
});
