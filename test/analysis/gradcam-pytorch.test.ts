// Grad-CAM, Grad-CAM++ and saliency against PyTorch's (scripts/fixtures/gradcam.py): torchvision's ResNet-18 with
// weights both sides compute from each state-dict key, so no weights are committed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gradCam, gradCamPlusPlus, saliency } from '../../src/analysis/index.js';
import * as models from '../../src/models/index.js';
import { tensor, type Tensor } from '../../src/tensor/index.js';

interface Fixture {
  size: number;
  classes: number;
  logits: number[];
  target: number;
  layers: Record<string, { shape: number[]; gradCam: number[]; gradCamPlusPlus: number[] }>;
  saliency: number[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/gradcam.json', import.meta.url), 'utf8'),
) as Fixture;

/** FNV-1a of the key's bytes, 32 bits, as the script computes it. */
function keySeed(key: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(key)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/** The script's uniform(): murmur3's finaliser of (index · 0x9E3779B1 + seed) over 2³². */
function uniform(key: string, count: number): Float64Array {
  const seed = keySeed(key);
  return Float64Array.from({ length: count }, (_, i) => {
    let x = (Math.imul(i, 0x9e3779b1) + seed) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    return x / 2 ** 32;
  });
}

/** The script's deterministic_values(), rule for rule. */
function deterministicValues(key: string, shape: readonly number[]): Float32Array {
  const count = shape.reduce((a, b) => a * b, 1);
  const u = uniform(key, count);
  const name = key.slice(key.lastIndexOf('.') + 1);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  const rule =
    key === 'input'
      ? (v: number) => 4 * (v - 0.5)
      : name === 'weight' && shape.length > 1
        ? (v: number) => (v - 0.5) * Math.sqrt(24 / fanIn)
        : name === 'weight'
          ? (v: number) => 0.8 + 0.4 * v
          : name === 'running_var'
            ? (v: number) => 0.5 + v
            : (v: number) => 0.2 * (v - 0.5);
  return Float32Array.from(u, rule);
}

function resnet18(): ReturnType<typeof models.get> {
  const net = models.get('resnet18', { numClasses: fixture.classes });
  for (const [key, t] of net.stateDict()) {
    if (t.dtype === 'float32') t.assign(tensor(deterministicValues(key, t.shape), t.shape));
  }
  return net;
}

/** Every value within 1e-4 of the expected map's largest value. */
function assertMapClose(actual: Tensor, shape: number[], expected: number[], what: string): void {
  assert.deepEqual(actual.shape, shape, `${what}: shape`);
  const largest = Math.max(...expected.map(Math.abs));
  assert.ok(largest > 0, `${what}: the expected map is not all zero`);
  const values = actual.data();
  const worst = Math.max(...expected.map((e, i) => Math.abs(values[i] - e)));
  assert.ok(
    worst <= 1e-4 * largest,
    `${what}: largest difference ${worst}, ${worst / largest} of the largest value`,
  );
}

const net = resnet18();
const size = fixture.size;
const x = tensor(deterministicValues('input', [1, 3, size, size]), [1, 3, size, size]);

for (const layer of Object.keys(fixture.layers)) {
  test(`Grad-CAM and Grad-CAM++ at ${layer} match PyTorch's hooks, target = the top class`, () => {
    const expected = fixture.layers[layer];
    const cam = gradCam(net, x, { layer });
    assert.equal(cam.target, fixture.target);
    assert.ok(Math.abs(cam.score - fixture.logits[fixture.target]) < 1e-3, `score ${cam.score}`);
    assertMapClose(cam.map, expected.shape, expected.gradCam, 'Grad-CAM');
    const plusPlus = gradCamPlusPlus(net, x, { layer, target: fixture.target });
    assertMapClose(plusPlus.map, expected.shape, expected.gradCamPlusPlus, 'Grad-CAM++');
  });
}

test('saliency |∂score/∂x|, the largest over channels, matches PyTorch at the input resolution', () => {
  const map = saliency(net, x);
  assert.equal(map.target, fixture.target);
  assertMapClose(map.map, [size, size], fixture.saliency, 'saliency');
});

test('explaining leaves the model as it was: modes (a frozen part in evaluation), flags, no .grad', () => {
  net.train();
  net.get('layer1').freeze();
  const modes = net.modules().map((m) => m.training);
  assert.ok(
    modes.includes(true) && modes.includes(false),
    'frozen layer1 in evaluation mode, the rest training',
  );
  gradCam(net, x, { layer: 'layer4' });
  saliency(net, x);
  assert.deepEqual(
    net.modules().map((m) => m.training),
    modes,
  );
  const layer1 = net.get('layer1').parameters();
  assert.ok(layer1.every((p) => !p.requiresGrad));
  assert.ok(net.parameters().every((p) => layer1.includes(p) || p.requiresGrad));
  assert.ok(net.parameters().every((p) => p.grad === null));
  // Unfrozen, layer1 takes the training mode train() asked for before the explanations.
  net.get('layer1').unfreeze();
  assert.ok(net.modules().every((m) => m.training));
  net.eval();
});
