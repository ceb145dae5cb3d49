import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caffeStateDict, readWeightsFile, resnet50CaffeTable } from '../../../src/io/index.js';
import { ProtoWriter } from '../../../src/io/protobuf.js';
import { tensor, type Tensor } from '../../../src/tensor/index.js';

const keysOf = (table: ReturnType<typeof resnet50CaffeTable>): string[] =>
  table.flatMap((source) => {
    const fields = {
      conv: ['weight'],
      linear: ['weight', 'bias'],
      batchnorm: ['weight', 'bias', 'running_mean', 'running_var'],
    }[source.kind];
    return fields.map((field) => `${source.module}.${field}`);
  });

/** torchvision's resnet50 keys and shapes, from PyTorch (scripts/fixtures/model_keys_resnet.py). */
const torchvision = (
  JSON.parse(
    readFileSync(new URL('../../../../test/fixtures/model-keys-resnet.json', import.meta.url), 'utf8'),
  ) as { keys: { resnet50: [string, number[]][] } }
).keys.resnet50.filter(([key]) => !key.endsWith('num_batches_tracked'));

test("the ResNet-50 table covers every key of torchvision's resnet50 once, from Caffe's layer names", () => {
  const table = resnet50CaffeTable();
  const keys = keysOf(table);
  const wanted = torchvision.map(([key]) => key);
  assert.deepEqual([...keys].sort(), [...wanted].sort());
  assert.equal(new Set(keys).size, keys.length);
  const layerOf = (module: string) => table.find((s) => s.module === module);
  assert.deepEqual(layerOf('conv1'), { kind: 'conv', module: 'conv1', layer: 'conv1' });
  assert.deepEqual(layerOf('bn1'), {
    kind: 'batchnorm',
    module: 'bn1',
    layer: 'bn_conv1',
    scale: 'scale_conv1',
    conv: 'conv1',
  });
  assert.equal(layerOf('layer1.0.downsample.0')?.layer, 'res2a_branch1');
  assert.equal(layerOf('layer3.5.conv3')?.layer, 'res4f_branch2c');
  assert.deepEqual(layerOf('layer4.2.bn2'), {
    kind: 'batchnorm',
    module: 'layer4.2.bn2',
    layer: 'bn5c_branch2b',
    scale: 'scale5c_branch2b',
    conv: 'res5c_branch2b',
  });
  assert.deepEqual(layerOf('fc'), { kind: 'linear', module: 'fc', layer: 'fc1000' });
});

test("BatchNorm statistics are divided by Caffe's factor, joined with the Scale, and a conv bias folds into the mean", () => {
  const blob = (values: number[], shape = [values.length]) => ({ shape, data: Float32Array.from(values) });
  const state = caffeStateDict(
    {
      name: '',
      layers: [
        { name: 'c', type: 'Convolution', blobs: [blob([1, 2], [2, 1, 1, 1]), blob([0.5, -1])] },
        { name: 'bn', type: 'BatchNorm', blobs: [blob([4, 8]), blob([2, 6]), blob([4])] },
        { name: 'sc', type: 'Scale', blobs: [blob([3, 5]), blob([0.25, 0.75])] },
      ],
    },
    [
      { kind: 'conv', module: 'conv', layer: 'c' },
      { kind: 'batchnorm', module: 'bn', layer: 'bn', scale: 'sc', conv: 'c' },
    ],
  );
  const values = (key: string) => Array.from((state.get(key) as Tensor).data());
  assert.deepEqual(values('bn.running_mean'), [4 / 4 - 0.5, 8 / 4 + 1]);
  assert.deepEqual(values('bn.running_var'), [0.5, 1.5]);
  assert.deepEqual(values('bn.weight'), [3, 5]);
  assert.deepEqual(values('bn.bias'), [0.25, 0.75]);
  assert.deepEqual((state.get('conv.weight') as Tensor).shape, [2, 1, 1, 1]);
});

/** A caffemodel in the release's layout holding `model`'s own tensors (BatchNorm sums stored with a factor of 2). */
function resnet50Caffemodel(state: Map<string, Tensor>): Uint8Array {
  const net = new ProtoWriter().string(1, 'ResNet-50');
  const layer = (name: string, blobs: { dims: number[]; values: Float32Array }[]) =>
    net.message(100, (l) => {
      l.string(1, name);
      for (const b of blobs) {
        l.message(7, (blob) => {
          blob.message(7, (shape) => shape.packedInt64(1, b.dims));
          blob.bytes(5, new Uint8Array(b.values.buffer, b.values.byteOffset, b.values.byteLength));
        });
      }
    });
  const of = (key: string) => {
    const t = state.get(key) as Tensor;
    return { dims: [...t.shape], values: t.data() as Float32Array };
  };
  const doubled = (key: string) => {
    const { dims, values } = of(key);
    return { dims, values: values.map((v) => v * 2) };
  };
  for (const source of resnet50CaffeTable()) {
    if (source.kind === 'conv') layer(source.layer, [of(`${source.module}.weight`)]);
    else if (source.kind === 'linear')
      layer(source.layer, [of(`${source.module}.weight`), of(`${source.module}.bias`)]);
    else {
      const factor = { dims: [1], values: Float32Array.of(2) };
      layer(source.layer, [
        doubled(`${source.module}.running_mean`),
        doubled(`${source.module}.running_var`),
        factor,
      ]);
      layer(source.scale, [of(`${source.module}.weight`), of(`${source.module}.bias`)]);
    }
  }
  return net.finish();
}

test("a ResNet-50 .caffemodel reads as torchvision's resnet50 state dict: every key, shape and value", async () => {
  // Every tensor at torchvision's shape, its values a pattern of its own (variances positive).
  const written = new Map<string, Tensor>();
  for (const [index, [key, shape]] of torchvision.entries()) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const variance = key.endsWith('running_var');
    for (let i = 0; i < values.length; i++)
      values[i] = variance ? 1 + ((i + index) % 7) / 8 : (((i * 7 + index) % 13) - 6) / 16;
    written.set(key, tensor(values, shape));
  }
  const dir = mkdtempSync(join(tmpdir(), 'convnets-caffe-'));
  try {
    const file = join(dir, 'ResNet-50-model.caffemodel');
    writeFileSync(file, resnet50Caffemodel(written));
    // Keys and shapes exactly torchvision's: what loadWeights' strict load into resnet50 requires.
    const weightsFile = await readWeightsFile(file);
    // The original ResNet's layout, which zoo commands build for the file.
    assert.deepEqual(weightsFile.model, { name: 'resnet50', options: { strideOn: '1x1' } });
    const read = weightsFile.tensors;
    assert.deepEqual(
      [...read].map(([key, t]) => [key, t.shape]),
      torchvision,
    );
    for (const [key, t] of read) assert.deepEqual(t.data(), written.get(key)?.data(), key);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
