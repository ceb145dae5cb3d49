import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShapeError, ValueError } from '../../src/errors.js';
import { detectFormat, exportOnnx, loadWeights, readWeights, saveWeights } from '../../src/io/index.js';
import { BatchNorm2d, Conv2d, Flatten, Linear, Sequential } from '../../src/nn/index.js';
import { Generator, tensor } from '../../src/tensor/index.js';
import { ascii, assertTensors, expected, fixture, fixturePath } from './helpers.js';

/** The convnets twin of the fixture's nn.Sequential(Conv2d(2, 3, 3), BatchNorm2d(3), Flatten(), Linear(12, 4)). */
function twin(seed = 5): Sequential {
  const generator = new Generator(seed);
  return new Sequential(
    new Conv2d(2, 3, 3, { generator }),
    new BatchNorm2d(3),
    new Flatten(),
    new Linear(12, 4, { generator }),
  );
}

function assertCloseTo(actual: ArrayLike<number>, wanted: number[], tolerance: number, what: string): void {
  assert.equal(actual.length, wanted.length, what);
  for (let i = 0; i < wanted.length; i++) {
    assert.ok(
      Math.abs(actual[i] - wanted[i]) <= tolerance * (1 + Math.abs(wanted[i])),
      `${what}[${i}]: ${actual[i]} vs ${wanted[i]}`,
    );
  }
}

test('loadWeights fills a convnets model from each format and it reproduces PyTorch’s eval output', async () => {
  const { input, output } = expected['sequential.forward'] as unknown as Record<
    string,
    { shape: number[]; data: number[] }
  >;
  for (const name of [
    'sequential.pth',
    'sequential-legacy.pth',
    'sequential-protocol4.pth',
    'sequential.safetensors',
  ]) {
    const model = twin();
    const held = [...model.stateDict().values()];
    const result = await loadWeights(model, fixturePath(name));
    assert.deepEqual(result, { missingKeys: [], unexpectedKeys: [] }, name);
    assertTensors(model.stateDict(), expected['sequential.pth'], name);
    assert.deepEqual([...model.stateDict().values()], held, `${name}: the model keeps its own tensors`);
    const y = model.eval().call(tensor(input.data, input.shape));
    assert.deepEqual([...y.shape], output.shape);
    assertCloseTo(y.data(), output.data, 1e-5, `${name} output`);
  }
});

test('strict loading names missing and unexpected keys and changes nothing', async () => {
  const model = new Sequential(
    new Conv2d(2, 3, 3),
    new BatchNorm2d(3),
    new Flatten(),
    new Linear(12, 4),
    new Linear(4, 2),
  );
  const before = Array.from(model.stateDict().get('0.weight')!.data());
  await assert.rejects(loadWeights(model, fixturePath('sequential.pth')), (error: Error) => {
    assert.ok(error instanceof ValueError);
    assert.match(error.message, /2 missing keys \('4\.weight', '4\.bias'\)/);
    return true;
  });
  assert.deepEqual(Array.from(model.stateDict().get('0.weight')!.data()), before);
  const result = await loadWeights(model, fixturePath('sequential.pth'), { strict: false });
  assert.deepEqual(result, { missingKeys: ['4.weight', '4.bias'], unexpectedKeys: [] });
  assertTensors(
    new Map([...model.stateDict()].filter(([k]) => !k.startsWith('4.'))),
    expected['sequential.pth'],
    'non-strict load',
  );
});

test('a mis-shaped key is an error naming it, strict or not', async () => {
  const model = new Sequential(new Conv2d(2, 3, 3), new BatchNorm2d(3), new Flatten(), new Linear(12, 5));
  await assert.rejects(
    loadWeights(model, fixturePath('sequential.pth'), { strict: false }),
    (error: Error) => {
      assert.ok(error instanceof ShapeError);
      assert.match(error.message, /'3\.weight' is \[4, 12\] in the state dict but \[5, 12\] in the model/);
      return true;
    },
  );
});

test('mapKey renames keys, null drops them, and two keys sent to one name are an error', async () => {
  const wrapped = new Sequential({ body: twin() });
  await loadWeights(wrapped, fixturePath('sequential.pth'), { mapKey: (key) => `body.${key}` });
  assertTensors(
    new Map([...wrapped.stateDict()].map(([k, t]) => [k.replace(/^body\./, ''), t])),
    expected['sequential.pth'],
    'renamed',
  );
  const model = twin();
  const result = await loadWeights(model, fixture('sequential.pth'), {
    strict: false,
    mapKey: (key) => (key.endsWith('num_batches_tracked') ? null : key),
  });
  assert.deepEqual(result, { missingKeys: ['1.num_batches_tracked'], unexpectedKeys: [] });
  await assert.rejects(
    loadWeights(twin(), fixturePath('sequential.pth'), { mapKey: () => 'same' }),
    /mapKey sends both '0\.weight' and '0\.bias' to 'same'/,
  );
});

test('saveWeights writes safetensors that load back into a fresh model exactly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'convnets-weights-'));
  const source = twin(1);
  await loadWeights(source, fixturePath('sequential.pth'));
  await saveWeights(source, join(dir, 'model.safetensors'));
  const target = twin(2);
  await loadWeights(target, join(dir, 'model.safetensors'));
  assertTensors(target.stateDict(), expected['sequential.pth'], 'saved and loaded');
  const raw = await readWeights(join(dir, 'model.safetensors'));
  assert.equal(raw.get('1.num_batches_tracked')!.dtype, 'int32');
});

test('the format comes from the magic bytes first, the extension second; others are clear errors', async () => {
  assert.equal(detectFormat(fixture('sequential.pth')), 'pth');
  assert.equal(detectFormat(fixture('sequential-legacy.pth')), 'pth');
  assert.equal(detectFormat(fixture('mixed.safetensors'), 'weights.bin'), 'safetensors');
  assert.equal(detectFormat(fixture('float32.npy')), 'npy');
  assert.equal(detectFormat(ascii('\x08\x01\x12\x04'), 'model.onnx'), 'onnx');
  assert.equal(detectFormat(ascii('hello')), null);
  await assert.rejects(readWeights(fixturePath('float32.npy')), /holds one array, not named weights/);
  await assert.rejects(readWeights(ascii('hello')), /not a weights file convnets reads/);
  const dir = mkdtempSync(join(tmpdir(), 'convnets-weights-'));
  writeFileSync(join(dir, 'model.onnx'), ascii('\x08\x07\x12\x04test'));
  await assert.rejects(
    readWeights(join(dir, 'model.onnx')),
    /model\.onnx: not an ONNX model: ONNX ModelProto: no graph \(field 7\)/,
  );
  // A truncated .pth keeps its extension's reader, whose error says what is wrong.
  writeFileSync(join(dir, 'cut.pth'), fixture('sequential.pth').subarray(100, 400));
  await assert.rejects(readWeights(join(dir, 'cut.pth')), /cut\.pth: pth: not a PyTorch file/);
});

test('an .onnx file loads strictly though it has no BatchNorm step counters; any other missing key is named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'convnets-weights-'));
  const source = twin(7).eval();
  const path = join(dir, 'twin.onnx');
  await exportOnnx(source, [1, 2, 4, 4], path);
  const model = twin(8);
  const result = await loadWeights(model, path);
  assert.deepEqual(result, { missingKeys: [], unexpectedKeys: [] });
  for (const [key, value] of source.stateDict()) {
    if (!key.endsWith('num_batches_tracked'))
      assert.deepEqual(model.stateDict().get(key)!.data(), value.data(), key);
  }
  // The step counter keeps its value; every other key of the model must still be there.
  await assert.rejects(
    loadWeights(
      new Sequential(
        new Conv2d(2, 3, 3),
        new BatchNorm2d(3),
        new Flatten(),
        new Linear(12, 4),
        new Linear(4, 2),
      ),
      path,
    ),
    (e: Error) => e instanceof ValueError && /2 missing keys \('4\.weight', '4\.bias'\)/.test(e.message),
  );
});
