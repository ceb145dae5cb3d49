import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  featureMaps,
  filters,
  gradCam,
  gradCamPlusPlus,
  lastConvolution,
  occlusion,
  saliency,
  topActivations,
} from '../../src/analysis/index.js';
import { ShapeError, ValueError } from '../../src/errors.js';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../../src/nn/index.js';
import * as models from '../../src/models/index.js';
import { Generator, ones, randn, tensor } from '../../src/tensor/index.js';
import { unreleased } from '../memory.js';

/**
 * A 1×4×4 image through a 1×1 convolution of weight 1, a ReLU, then a linear layer: class 0 weighs pixel i
 * (row-major) by i + 1, class 1 every pixel by 1. On positive images the logits are linear in the pixels, so an
 * occlusion's drop is Σ (i + 1)·(x_i − fill) over the hidden pixels.
 */
function linearNet(): Sequential {
  const conv = new Conv2d(1, 1, 1);
  conv.weight.assign(tensor([1], [1, 1, 1, 1]));
  conv.bias!.assign(tensor([0], [1]));
  const fc = new Linear(16, 2);
  fc.weight.assign(tensor([Array.from({ length: 16 }, (_, i) => i + 1), Array<number>(16).fill(1)]));
  fc.bias!.assign(tensor([0, 0]));
  return new Sequential(conv, new ReLU(), new Flatten(), fc);
}

test('occlusion by hand: a 2×2 zero patch at stride 2 costs the top class the weights it hides', () => {
  const result = occlusion(linearNet(), ones([1, 4, 4]), { patch: 2, stride: 2 });
  assert.equal(result.target, 0);
  assert.equal(result.score, 136);
  // Pixels 0,1,4,5 weigh 1+2+5+6 = 14; 2,3,6,7: 22; 8,9,12,13: 46; 10,11,14,15: 54.
  assert.deepEqual(result.map.shape, [2, 2]);
  assert.deepEqual(result.map.toArray(), [14, 22, 46, 54]);
});

test('occlusion by hand: a 3×3 patch of 0.5 at stride 1, in batches of 3, for a chosen class', () => {
  const net = linearNet();
  // Top-left 3×3 holds pixels 0,1,2,4,5,6,8,9,10: weights summing to 54, each pixel dropping by 1 − 0.5.
  const top = occlusion(net, ones([1, 1, 4, 4]), { patch: 3, stride: 1, fill: 0.5, batchSize: 3 });
  assert.deepEqual(top.map.toArray(), [27, 31.5, 45, 49.5]);
  const other = occlusion(net, ones([1, 1, 4, 4]), { patch: 3, stride: 1, fill: 0.5, target: 1 });
  assert.equal(other.score, 16);
  assert.deepEqual(other.map.toArray(), [4.5, 4.5, 4.5, 4.5]);
});

test('occlusion refuses a patch larger than the image and a stride of 0', () => {
  assert.throws(
    () => occlusion(linearNet(), ones([1, 4, 4]), { patch: 5 }),
    /a patch of 5 does not fit in an image of 4×4/,
  );
  assert.throws(
    () => occlusion(linearNet(), ones([1, 4, 4]), { stride: 0, patch: 2 }),
    /stride must be a positive integer/,
  );
});

/** conv 3×3 (4) → ReLU → pool 2 → conv 3×3 (6) → ReLU → flatten → 3 classes, on 1×8×8. */
function smallNet(): Sequential {
  const g = new Generator(7);
  return new Sequential(
    new Conv2d(1, 4, 3, { padding: 1, generator: g }),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(4, 6, 3, { padding: 1, generator: g }),
    new ReLU(),
    new Flatten(),
    new Linear(6 * 4 * 4, 3, { generator: g }),
  );
}

test('Grad-CAM with one map and a linear head is that map scaled by its mean gradient (by hand)', () => {
  // One channel A (4×4) and score = Σ v·A + b: ∂score/∂A = v, so Grad-CAM = ReLU(mean(v)·A).
  const conv = new Conv2d(1, 1, 1, { bias: false });
  conv.weight.assign(tensor([2], [1, 1, 1, 1]));
  const fc = new Linear(16, 1);
  const v = Array.from({ length: 16 }, (_, i) => (i % 3) - 0.5);
  fc.weight.assign(tensor([v]));
  const net = new Sequential(conv, new Flatten(), fc);
  const x = tensor(
    Array.from({ length: 16 }, (_, i) => i - 6),
    [1, 1, 4, 4],
  );
  const meanV = v.reduce((a, b) => a + b, 0) / 16;
  const expected = Array.from({ length: 16 }, (_, i) => Math.max(0, meanV * 2 * (i - 6)));
  const cam = gradCam(net, x, { layer: '0' }).map.toArray();
  cam.forEach((value, i) =>
    assert.ok(Math.abs(value - expected[i]) < 1e-6, `${i}: ${value} vs ${expected[i]}`),
  );
});

test('explanations release what they make: only the returned map stays', () => {
  const net = smallNet();
  const x = randn([1, 1, 8, 8], { generator: new Generator(1) });
  for (const explain of [gradCam, gradCamPlusPlus, saliency, occlusion]) {
    explain(net, x).map.dispose();
    const before = unreleased();
    const { map } = explain(net, x);
    assert.equal(unreleased(), before + 1, explain.name);
    map.dispose();
  }
});

test('the default layer is the last convolution; a model without one is one line', () => {
  const net = smallNet();
  assert.equal(lastConvolution(net), '3');
  assert.deepEqual(gradCam(net, randn([1, 8, 8])).map.shape, [4, 4]);
  const mlp = new Sequential(new Flatten(), new Linear(4, 2));
  assert.throws(
    () => gradCam(mlp, ones([1, 2, 2])),
    (e: unknown) =>
      e instanceof ValueError &&
      e.message === 'Sequential has no convolution (Conv2d): there are no feature maps to explain',
  );
});

test('a layer that does not exist is refused with the list of the layers that do', () => {
  assert.throws(
    () => gradCam(smallNet(), ones([1, 8, 8]), { layer: 'layer4' }),
    (e: unknown) =>
      e instanceof ValueError &&
      e.message === "Sequential has no layer 'layer4'; its layers are: 0, 1, 2, 3, 4, 5, 6",
  );
  assert.throws(
    () => featureMaps(smallNet(), ones([1, 8, 8]), ['0', '9']),
    /has no layer '9'; its layers are: 0, 1/,
  );
});

test('a target class out of range, a batch of images and a layer without feature maps are each one line', () => {
  const net = smallNet();
  assert.throws(
    () => gradCam(net, ones([1, 8, 8]), { target: 3 }),
    (e: unknown) =>
      e instanceof ValueError &&
      /target class 3 is out of range: the model has 3 classes \(0…2\)/.test(e.message),
  );
  assert.throws(() => saliency(net, ones([1, 8, 8]), { target: -1 }), /target class -1 is out of range/);
  assert.throws(
    () => gradCam(net, ones([2, 1, 8, 8])),
    (e: unknown) =>
      e instanceof ShapeError &&
      /one image \[C, H, W\] or \[1, C, H, W\], got \[2, 1, 8, 8\]/.test(e.message),
  );
  assert.throws(
    () => gradCam(net, ones([1, 8, 8]), { layer: '6' }),
    /layer '6' gives \[1, 3\], not feature maps/,
  );
  assert.throws(() => filters(net, '1'), /filters: layer '1' is a ReLU, not a convolution \(Conv2d\)/);
});

test("a shared module (torchvision's BasicBlock calls its relu twice) is refused as a Grad-CAM layer", () => {
  const net = models.get('resnet18', { numClasses: 2 });
  assert.throws(
    () => gradCam(net, ones([3, 32, 32]), { layer: 'layer1.0.relu' }),
    /layer 'layer1.0.relu' runs 2 times in one forward pass \(a shared module\)/,
  );
});

test('featureMaps gives the outputs the layers compute; filters a copy of the weight', () => {
  const net = smallNet().eval();
  const x = randn([2, 1, 8, 8], { generator: new Generator(3) });
  const maps = featureMaps(net, x, ['2', '4']);
  const pooled = net.get('2').call(net.get('1').call(net.get('0').call(x)));
  assert.deepEqual(maps.get('2')!.toArray(), pooled.toArray());
  assert.deepEqual(maps.get('4')!.toArray(), net.get('4').call(net.get('3').call(pooled)).toArray());
  assert.deepEqual([...maps.keys()], ['2', '4']);
  const weight = filters(net, '3');
  assert.deepEqual(weight.shape, [6, 4, 3, 3]);
  assert.deepEqual(weight.toArray(), (net.get('3') as Conv2d).weight.toArray());
  assert.notEqual(weight, (net.get('3') as Conv2d).weight);
});

test('topActivations: the images whose brightest pixel a centre-tap filter sees most, with 3×3 boxes clipped', () => {
  // A 3×3 kernel with only its centre tap: unit (r, c) reads pixel (r, c), and its receptive field is 3×3 there.
  const conv = new Conv2d(1, 2, 3, { padding: 1 });
  const kernel = new Float32Array(2 * 9);
  kernel[4] = 1;
  kernel[9 + 4] = -1;
  conv.weight.assign(tensor(kernel, [2, 1, 3, 3]));
  conv.bias!.assign(tensor([0, 0]));
  const net = new Sequential(conv);
  const bright: [number, number, number][] = [
    [0, 0, 5],
    [2, 3, 9],
    [4, 4, 1],
    [1, 2, 7],
  ];
  const images = {
    length: bright.length,
    get(index: number) {
      const image = new Float32Array(25);
      const [r, c, value] = bright[index];
      image[r * 5 + c] = value;
      return { image };
    },
  };
  const top = topActivations(net, images, '0', 0, 3, { inputShape: [1, 5, 5], batchSize: 3 });
  assert.deepEqual(top, [
    { index: 1, value: 9, position: [2, 3], box: { top: 1, left: 2, height: 3, width: 3 } },
    { index: 3, value: 7, position: [1, 2], box: { top: 0, left: 1, height: 3, width: 3 } },
    { index: 0, value: 5, position: [0, 0], box: { top: 0, left: 0, height: 2, width: 2 } },
  ]);
  assert.throws(
    () => topActivations(net, images, '0', 2, 3, { inputShape: [1, 5, 5] }),
    /unit 2 is out of range: '0' has 2 channels \(0…1\)/,
  );
});
