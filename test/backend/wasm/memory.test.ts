// WebAssembly memory over a run: training steps leave live storages, bytes and the instance's WebAssembly.Memory
// where the first step left them (the allocator reuses freed blocks), storages the garbage collector finds
// unreachable give their blocks back, and each instance owns its memory. Skipped where the .wasm is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend, setBackend } from '../../../src/backend/registry.js';
import { WasmBackend } from '../../../src/backend/wasm/index.js';
import { loadWasmModule, loadWasmThreading } from '../../../src/backend/wasm/node-loader.js';
import { BackendError, ShapeError } from '../../../src/errors.js';
import * as nn from '../../../src/nn/index.js';
import * as optim from '../../../src/optim/index.js';
import { Generator, crossEntropy, randn, scope, tensor } from '../../../src/tensor/index.js';
import { gc, unreleased } from '../../memory.js';
import { skipWasm } from './helpers.js';

/** Convolution, batch norm, ReLU, both poolings and a linear layer: the kernels that run in wasm. */
function trainingStep(generator: Generator): () => number {
  const model = new nn.Sequential(
    new nn.Conv2d(3, 8, 3, { padding: 1, generator }),
    new nn.BatchNorm2d(8),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(8, 8, 3, { padding: 1, generator }),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(8, 4, { generator }),
  );
  const x = randn([8, 3, 12, 12], { generator });
  const labels = tensor([0, 1, 2, 3, 0, 1, 2, 3], [8], { dtype: 'int32' });
  const optimizer = optim.sgd(model.parameters(), { lr: 0.05, momentum: 0.9 });
  return () =>
    scope(() => {
      optimizer.zeroGrad();
      const loss = crossEntropy(model.call(x), labels);
      loss.backward();
      optimizer.step();
      return loss.item();
    });
}

test(
  '200 training steps leave live storages, bytes and the WebAssembly memory where they were',
  { skip: skipWasm },
  () => {
    const backend = setBackend('wasm') as WasmBackend;
    const step = trainingStep(new Generator(5));
    const first = step();
    const [settled, reserved, made] = [backend.memory(), backend.reservedBytes(), unreleased(backend)];
    let last = first;
    for (let i = 0; i < 199; i++) last = step();
    assert.deepEqual(backend.memory(), settled, 'live storages and bytes after 199 more steps');
    assert.equal(unreleased(backend), made, 'storages made and never released');
    assert.equal(backend.reservedBytes(), reserved, 'the WebAssembly.Memory did not grow');
    assert.ok(last < first, `loss falls: ${first} → ${last}`);
  },
);

test(
  'storages of unreachable tensors go back to the allocator after a collection',
  { skip: skipWasm },
  async () => {
    const backend = setBackend('wasm') as WasmBackend;
    // 32 tensors of 1 MiB, never disposed, twice: the second round reuses the first round's blocks.
    const round = async () => {
      for (let i = 0; i < 32; i++) randn([512, 512]);
      gc();
      // FinalizationRegistry callbacks run on a later turn of the event loop.
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    const before = backend.memory();
    await round();
    const reserved = backend.reservedBytes();
    await round();
    const after = backend.memory();
    assert.ok(after.bytes <= before.bytes, `${after.bytes - before.bytes} bytes still live`);
    assert.ok(
      after.collected >= before.collected + 64,
      `${after.collected - before.collected} counted as collected`,
    );
    assert.equal(backend.reservedBytes(), reserved, 'the second round reused the blocks the first one freed');
  },
);

test(
  'each instance owns its memory; foreign, released and mis-sized storages are refused',
  { skip: skipWasm },
  () => {
    const [one, two] = [
      new WasmBackend(loadWasmModule(), loadWasmThreading()),
      new WasmBackend(loadWasmModule(), loadWasmThreading()),
    ];
    const x = one.upload(new Float32Array([1, -2, 3, -4]), [4]);
    const y = two.upload(new Float32Array([5, 6, 7, 8]), [4]);
    assert.deepEqual([...one.read(x, [4])], [1, -2, 3, -4]);
    assert.deepEqual([...two.read(y, [4])], [5, 6, 7, 8]);
    assert.throws(() => one.unary('relu', y, [4]), BackendError);
    assert.throws(() => one.unary('relu', x, [2, 3]), ShapeError);
    one.release(x);
    assert.throws(() => one.read(x, [4]), /released/);
    assert.equal(one.memory().storages, 0);
    two.release(y);
    assert.equal(getBackend().name, 'wasm');
  },
);
