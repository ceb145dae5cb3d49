import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  receptiveBox,
  receptiveField,
  receptiveFields,
  receptiveFieldOf,
  type ReceptiveField,
} from '../../src/analysis/index.js';
import { withBackend } from '../../src/backend/registry.js';
import { ValueError } from '../../src/errors.js';
import { Conv2d, Module, Sequential } from '../../src/nn/index.js';
import * as models from '../../src/models/index.js';
import { maxPool2d, type Tensor } from '../../src/tensor/index.js';

const sizes = (fields: Map<string, ReceptiveField>, paths: string[]): number[] =>
  paths.map((p) => fields.get(p)!.size[0]);

test('LeNet-5 by hand: conv 5 → 5, pool 2 → 6 (jump 2), conv 5 → 6 + 4·2 = 14, pool 2 → 16 (jump 4)', () => {
  const net = withBackend('meta', () => models.get('lenet5'));
  const fields = receptiveFields(net, [1, 32, 32]);
  assert.deepEqual(
    sizes(fields, ['features.0', 'features.1', 'features.2', 'features.3', 'features.5']),
    [5, 5, 6, 14, 16],
  );
  // Centres: 2 (the 5×5 kernel's middle), 2.5, 2.5 + 2·2 = 6.5, 6.5 + 0.5·2 = 7.5; jumps 1, 2, 2, 4.
  assert.deepEqual(fields.get('features.5'), { size: [16, 16], jump: [4, 4], start: [7.5, 7.5] });
  assert.deepEqual(fields.get('features.2')!.start, [2.5, 2.5]);
  // The last unit of the 5×5 pool2 map sees rows and columns 16…31, the image's far corner exactly.
  assert.deepEqual(receptiveBox(fields.get('features.5')!, [4, 4], [32, 32]), {
    top: 16,
    left: 16,
    height: 16,
    width: 16,
  });
  assert.deepEqual(receptiveBox(fields.get('features.5')!, [0, 1], [32, 32]), {
    top: 0,
    left: 4,
    height: 16,
    width: 16,
  });
});

test("AlexNet (torchvision's): 195 pixels at pool5", () => {
  // 11 → pool 3/2: 19 → conv 5 (jump 8): 51 → pool: 67 → three 3×3 convs (jump 16): 99, 131, 163 → pool5: 195.
  const net = withBackend('meta', () => models.get('alexnet'));
  const fields = receptiveFields(net, [3, 224, 224]);
  assert.deepEqual(sizes(fields, ['features.0', 'features.2', 'features.3', 'features.5']), [11, 19, 51, 67]);
  assert.deepEqual(
    sizes(fields, ['features.6', 'features.8', 'features.10', 'features.12']),
    [99, 131, 163, 195],
  );
  assert.deepEqual(fields.get('features.12')!.jump, [32, 32]);
});

test('VGG-16: 196 pixels at conv5_3, 212 at pool5', () => {
  const net = withBackend('meta', () => models.get('vgg16'));
  const fields = receptiveFields(net, [3, 224, 224]);
  // conv1_2 5, pool1 6, pool2 16, pool3 44, pool4 100, conv5_3 196, pool5 212.
  assert.deepEqual(
    sizes(fields, ['features.2', 'features.4', 'features.9', 'features.16', 'features.23']),
    [5, 6, 16, 44, 100],
  );
  assert.deepEqual(sizes(fields, ['features.28', 'features.30']), [196, 212]);
  assert.deepEqual(fields.get('features.30')!.jump, [32, 32]);
});

test('a chain given as geometry composes to the same figures; dilation widens a kernel to d·(k − 1) + 1', () => {
  const conv3 = { kernelSize: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] } as const;
  const pool2 = { kernelSize: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] } as const;
  const chain = [conv3, conv3, pool2, conv3, conv3, pool2].map((g) => ({
    kernelSize: [...g.kernelSize] as [number, number],
    stride: [...g.stride] as [number, number],
    padding: [...g.padding] as [number, number],
    dilation: [...g.dilation] as [number, number],
  }));
  assert.deepEqual(receptiveField(chain).size, [16, 16]);
  const dilated = receptiveField([{ kernelSize: [3, 3], stride: [1, 1], padding: [2, 2], dilation: [2, 2] }]);
  assert.deepEqual(dilated, { size: [5, 5], jump: [1, 1], start: [0, 0] });
});

test('ResNet-18: the residual path through the stem and two 3×3 convolutions wins over the shortcut', () => {
  // conv1 7/2 p3: 7 (jump 2); maxpool 3/2: 7 + 2·2 = 11 (jump 4); layer1.0: two 3×3 convs, 11 + 2·4 + 2·4 = 27.
  const net = withBackend('meta', () => models.get('resnet18'));
  const fields = receptiveFields(net, [3, 64, 64]);
  assert.deepEqual(
    sizes(fields, ['conv1', 'maxpool', 'layer1.0.conv1', 'layer1.0', 'layer1']),
    [7, 11, 19, 27, 43],
  );
  // layer2.0: conv1 3/2 (jump 4 → 8): 43 + 2·4 = 51; conv2 3: 51 + 2·8 = 67; the 1×1 shortcut adds nothing. Every padding centres its kernel, so units stay centred on pixel 0, 8, 16…
  assert.deepEqual(fields.get('layer2.0')!, { size: [67, 67], jump: [8, 8], start: [0, 0] });
});

test('an op outside a layer that changes the spatial size is named, not guessed', () => {
  class FunctionalPool extends Module {
    conv = new Conv2d(1, 2, 3);
    forward(x: Tensor): Tensor {
      return maxPool2d(this.conv.call(x), 2);
    }
  }
  const net = withBackend('meta', () => new Sequential(new FunctionalPool()));
  assert.throws(
    () => receptiveFieldOf(net, [1, 8, 8], '0'),
    (e: unknown) =>
      e instanceof ValueError &&
      e.message ===
        "receptive field of '0': maxPool2d turns [1, 2, 6, 6] into [1, 2, 3, 3] outside a Conv2d or pooling " +
          'layer, whose geometry is unknown',
  );
  assert.deepEqual([...receptiveFields(net, [1, 8, 8]).keys()], ['0.conv'], 'only what is known');
  assert.throws(() => receptiveFieldOf(net, [1, 8, 8], 'fc'), /has no layer 'fc'; its layers are: 0, 0.conv/);
});

test("a shortcut's functional pool is left out where the residual path reaches the sum (CIFAR ResNet, option A)", () => {
  // conv1 3 → layer1: 3 + 6·2 = 15 → layer2.0.conv1 (stride 2): 17, conv2 (jump 2): 21; the shortcut's
  // subsampling (a functional 1×1 average pool) would give 15, and is left out.
  const net = withBackend('meta', () => models.get('resnet20'));
  const fields = receptiveFields(net, [3, 32, 32]);
  assert.deepEqual(sizes(fields, ['conv1', 'layer1', 'layer2.0.conv1', 'layer2.0']), [3, 15, 17, 21]);
  assert.equal(fields.has('layer2.0.downsample'), false, 'the shortcut module alone has no known field');
  assert.throws(
    () => receptiveFieldOf(net, [3, 32, 32], 'layer2.0.downsample'),
    /avgPool2d turns \[1, 16, 32, 32\] into \[1, 16, 16, 16\]/,
  );
});
