import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outputSize } from '../../src/backend/shapes.js';

/** Applies (n + 2p − f)/s + 1 layer after layer, returning every size along the way. */
function chain(input: number, layers: [kernel: number, stride: number, padding: number][]): number[] {
  const sizes = [input];
  for (const [kernel, stride, padding] of layers)
    sizes.push(outputSize(sizes.at(-1)!, kernel, stride, padding));
  return sizes;
}

test('LeNet-5 (LeCun et al. 1998): 32 → 28 → 14 → 10 → 5, and 5·5·16 = 400 features into the classifier', () => {
  const sizes = chain(32, [
    [5, 1, 0], // C1
    [2, 2, 0], // S2
    [5, 1, 0], // C3
    [2, 2, 0], // S4
  ]);
  assert.deepEqual(sizes, [32, 28, 14, 10, 5]);
  assert.equal(sizes.at(-1)! ** 2 * 16, 400);
  // C5 is a 5×5 convolution over the 5×5 maps: 1×1.
  assert.equal(outputSize(5, 5), 1);
});

test('AlexNet (Krizhevsky et al. 2012) at 227: 55 → 27 → 27 → 13 → 13 → 13 → 13 → 6, and 6·6·256 = 9,216', () => {
  const sizes = chain(227, [
    [11, 4, 0], // conv1
    [3, 2, 0], // pool1 (overlapping)
    [5, 1, 2], // conv2
    [3, 2, 0], // pool2
    [3, 1, 1], // conv3
    [3, 1, 1], // conv4
    [3, 1, 1], // conv5
    [3, 2, 0], // pool5
  ]);
  assert.deepEqual(sizes, [227, 55, 27, 27, 13, 13, 13, 13, 6]);
  assert.equal(sizes.at(-1)! ** 2 * 256, 9_216);
  // The paper's 224 does not fit conv1's window evenly: (224 − 11)/4 + 1 = 54.25.
  assert.throws(() => outputSize(224, 11, 4, 0, { strict: true }), /not an integer/);
});

test('VGG (Simonyan & Zisserman 2014): five 2×2 stride-2 pools take 224 → 112 → 56 → 28 → 14 → 7, 7·7·512', () => {
  const same3x3 = outputSize(224, 3, 1, 1);
  assert.equal(same3x3, 224);
  const sizes = chain(
    224,
    Array.from({ length: 5 }, (): [number, number, number] => [2, 2, 0]),
  );
  assert.deepEqual(sizes, [224, 112, 56, 28, 14, 7]);
  assert.equal(sizes.at(-1)! ** 2 * 512, 25_088);
});
