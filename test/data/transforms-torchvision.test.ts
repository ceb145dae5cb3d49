// The deterministic operations against torchvision 0.14 (scripts/fixtures/transforms.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as F from '../../src/data/transforms/functional.js';
import type { ChwImage } from '../../src/data/image.js';
import { assertImage, fixtureJson } from './helpers.js';

interface Encoded {
  shape: number[];
  data: number[];
}
interface Case {
  name: string;
  op: string;
  input: Encoded;
  params: Record<string, unknown>;
  output: Encoded;
}

const { cases } = fixtureJson<{ cases: Case[] }>('transforms.json');

function decode(encoded: Encoded): ChwImage {
  const [channels, height, width] = encoded.shape;
  return { data: Float32Array.from(encoded.data), channels, height, width };
}

type Pair = [number, number];

const run: Record<string, (image: ChwImage, p: Record<string, unknown>) => ChwImage | ChwImage[]> = {
  resize: (image, p) => F.resize(image, p.size as number | Pair),
  rotate: (image, p) => F.rotate(image, p.angle as number),
  affine: (image, p) =>
    F.affine(image, {
      angle: p.angle as number,
      translate: p.translate as Pair,
      scale: p.scale as number,
      shear: p.shear as Pair,
    }),
  resizedCrop: (image, p) =>
    F.resizedCrop(
      image,
      p.top as number,
      p.left as number,
      p.height as number,
      p.width as number,
      p.size as Pair,
    ),
  centerCrop: (image, p) => F.centerCrop(image, ...(p.size as Pair)),
  pad: (image, p) =>
    F.pad(image, p.padding as number[], {
      mode: p.mode as F.PaddingMode,
      fill: p.mode === 'constant' ? 0.5 : 0,
    }),
  tenCrop: (image, p) => F.tenCrop(image, ...(p.size as Pair), p.vertical as boolean),
  normalize: (image, p) => F.normalize(image, p.mean as number[], p.std as number[]),
};

test('the fixture covers every operation', () => {
  assert.deepEqual([...new Set(cases.map((c) => c.op))].sort(), Object.keys(run).sort());
});

for (const c of cases) {
  test(`matches torchvision: ${c.name}`, () => {
    const result = run[c.op](decode(c.input), c.params);
    // Sampling ops round differently (torchvision computes in float32, convnets in float64): 1e-6 absolute on
    // values of order 1. Copies (crop, pad, flips) are exact.
    const tolerance = ['resize', 'rotate', 'affine', 'resizedCrop', 'normalize'].includes(c.op) ? 2e-6 : 0;
    if (Array.isArray(result)) {
      const [count, ...shape] = c.output.shape;
      assert.equal(result.length, count, 'number of crops');
      const size = shape.reduce((a, b) => a * b, 1);
      result.forEach((crop, k) =>
        assertImage(crop, shape, c.output.data.slice(k * size, (k + 1) * size), tolerance, `crop ${k}`),
      );
    } else {
      assertImage(result, c.output.shape, c.output.data, tolerance, c.name);
    }
  });
}
