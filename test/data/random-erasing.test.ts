// Random erasing against a hand computation: scripted draws fix the window, and every pixel is checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValueError } from '../../src/errors.js';
import * as transforms from '../../src/data/transforms/index.js';
import { parseAugment } from '../../src/train/augment.js';
import type { ChwImage } from '../../src/data/image.js';
import { ramp, ScriptedGenerator } from './helpers.js';

const erase = (spec: transforms.TransformSpec, input: ChwImage, generator: ScriptedGenerator): ChwImage =>
  transforms.makeTransform(spec)(input, generator)[0];

/** A uniform() value that makes generator.int(n) return k. */
const intDraw = (k: number, n: number): number => (k + 0.5) / n;

test('randomErasing fills the drawn window of every channel with uniform draws, row by row', () => {
  const input = ramp(2, 4, 5);
  const spec = transforms.randomErasing({ p: 0.5, scale: [0.1, 0.5], ratio: [0.5, 2] });
  const values = [0.11, 0.12, 0.13, 0.14, 0.21, 0.22, 0.23, 0.24];
  // p draw 0.3 < 0.5; area 20·(0.1 + 0.4·0.5) = 6, aspect exp(0) = 1 → 2×2; top 1 of 0…2, left 2 of 0…3.
  const generator = new ScriptedGenerator([0.3, 0.5, 0.5, intDraw(1, 3), intDraw(2, 4), ...values]);
  const output = erase(spec, input, generator);
  assert.equal(generator.used, 5 + values.length);
  const expected = Float32Array.from(input.data);
  let next = 0;
  for (let c = 0; c < 2; c++)
    for (const y of [1, 2]) for (const x of [2, 3]) expected[c * 20 + y * 5 + x] = values[next++];
  assert.deepEqual(output.data, expected);
  assert.deepEqual(input.data, ramp(2, 4, 5).data, 'the input image is not changed');
});

test('randomErasing with a fixed value, with p not drawn, and with no window that fits', () => {
  const input = ramp(1, 3, 3);
  const fixed = transforms.randomErasing({ p: 1, scale: [0.1, 0.2], ratio: [1, 1], value: -1 });
  // area 9·0.15 = 1.35 → 1×1 at (2, 0).
  const output = erase(fixed, input, new ScriptedGenerator([0, 0.5, 0.5, intDraw(2, 3), intDraw(0, 3)]));
  assert.deepEqual(
    [...output.data],
    [...input.data].map((v, i) => (i === 6 ? -1 : v)),
  );
  const skipped = new ScriptedGenerator([0.5]);
  assert.equal(erase(transforms.randomErasing({ p: 0.5 }), input, skipped), input);
  assert.equal(skipped.used, 1);
  // Every try asks for the whole image, which must fit strictly inside: 1 + 10 × 2 draws, image unchanged.
  const whole = transforms.randomErasing({ p: 1, scale: [0.95, 1], ratio: [1, 1] });
  const tries = new ScriptedGenerator([0, ...Array<number>(20).fill(0.5)]);
  assert.equal(erase(whole, input, tries), input);
  assert.equal(tries.used, 21);
});

test('randomErasing and --augment erase check their options', () => {
  assert.throws(() => transforms.randomErasing({ p: 1.5 }), ValueError);
  assert.throws(() => transforms.randomErasing({ scale: [0, 0.5] }), /scale must lie in \(0, 1\]/);
  assert.throws(() => transforms.randomErasing({ value: Number.NaN }), /value must be a finite number/);
  assert.deepEqual(parseAugment('crop-flip,erase'), [
    { name: 'crop', values: [4] },
    { name: 'flip', values: [] },
    { name: 'erase', values: [0.5] },
  ]);
  assert.throws(() => parseAugment('erase:2'), /--augment erase: p must be in \[0, 1\], got '2'/);
});
