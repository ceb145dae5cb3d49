import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackendError } from '../../src/errors.js';
import { encodeSafetensors, saveSafetensors, writeNpy, encodeNpy } from '../../src/io/index.js';
import { tensor } from '../../src/tensor/index.js';

function freshDir(): string {
  return mkdtempSync(join(tmpdir(), 'convnets-atomic-'));
}

test('writing over an existing file replaces it whole, leaving no temporary file', async () => {
  const dir = freshDir();
  const path = join(dir, 'w.safetensors');
  await saveSafetensors(path, { big: tensor(new Float32Array(1000).fill(7), [1000]) });
  const small = { small: tensor([1, 2]) };
  await saveSafetensors(path, small);
  assert.deepEqual(new Uint8Array(readFileSync(path)), encodeSafetensors(small), 'no tail of the old file');
  await writeNpy(join(dir, 'x.npy'), tensor([1, 2, 3]));
  await writeNpy(join(dir, 'x.npy'), tensor([4]));
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'x.npy'))), encodeNpy(tensor([4])));
  assert.deepEqual(readdirSync(dir).sort(), ['w.safetensors', 'x.npy']);
});

test('a failure part way through a save leaves the old file intact and removes the temporary file', async () => {
  const dir = freshDir();
  const path = join(dir, 'w.safetensors');
  writeFileSync(path, 'the old checkpoint');
  const released = tensor([3, 4]);
  released.dispose(); // reading it throws, after the header and the first tensor were written
  await assert.rejects(
    saveSafetensors(
      path,
      new Map([
        ['a', tensor([1, 2])],
        ['b', released],
      ]),
    ),
    BackendError,
  );
  assert.equal(readFileSync(path, 'utf8'), 'the old checkpoint');
  assert.deepEqual(readdirSync(dir), ['w.safetensors']);
});

test('a save whose final rename fails leaves nothing behind', async () => {
  const dir = freshDir();
  const target = join(dir, 'occupied');
  mkdirSync(join(target, 'inside'), { recursive: true }); // a non-empty directory cannot be renamed over
  await assert.rejects(writeNpy(target, tensor([1])));
  assert.deepEqual(readdirSync(dir), ['occupied']);
  assert.deepEqual(readdirSync(target), ['inside']);
});

test('a save into a directory that does not exist fails without creating anything', async () => {
  const dir = freshDir();
  await assert.rejects(writeNpy(join(dir, 'missing', 'x.npy'), tensor([1])), /ENOENT/);
  assert.deepEqual(readdirSync(dir), []);
});
