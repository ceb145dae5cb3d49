import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
} from '../../src/io/index.js';
import { tensor } from '../../src/tensor/index.js';
import {
  ascii,
  assertFormatError,
  assertTensors,
  concat,
  expected,
  fixture,
  fixturePath,
} from './helpers.js';

test('reads the hand-written fixture exactly: F32, F16, BF16, I64 → int32, I32, F64, empty, metadata', async () => {
  const { tensors, metadata, storedDtypes } = await loadSafetensors(fixturePath('mixed.safetensors'));
  assertTensors(tensors, expected['mixed.safetensors'], 'mixed.safetensors');
  assert.deepEqual(metadata, expected['mixed.safetensors.metadata']);
  assert.equal(storedDtypes.get('brain'), 'BF16');
  assert.equal(storedDtypes.get('count'), 'I64');
});

test('reads a PyTorch state dict written as safetensors', () => {
  assertTensors(
    decodeSafetensors(fixture('sequential.safetensors')).tensors,
    expected['sequential.pth'],
    'sequential',
  );
});

test('encode then decode gives the tensors, their order and the metadata back', () => {
  const tensors = new Map([
    ['b.weight', tensor([1.5, -2, 1e-40, -Infinity], [2, 2])],
    ['a', tensor(new Int32Array([7, -(2 ** 31)]), [2])],
    ['scalar', tensor([3], [])],
    ['empty', tensor([], [0])],
  ]);
  const bytes = encodeSafetensors(tensors, { note: 'hi', ['__proto__']: 'x' });
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0, 'header padded to 8 bytes');
  const back = decodeSafetensors(bytes);
  assert.deepEqual([...back.tensors.keys()], [...tensors.keys()]);
  for (const [key, t] of tensors) {
    const u = back.tensors.get(key)!;
    assert.deepEqual([...u.shape], [...t.shape], key);
    assert.equal(u.dtype, t.dtype, key);
    assert.deepEqual(Array.from(u.data()), Array.from(t.data()), key);
  }
  assert.equal(back.metadata.note, 'hi');
  assert.equal(Object.getOwnPropertyDescriptor(back.metadata, '__proto__')?.value, 'x');
  assert.deepEqual([...back.storedDtypes.values()], ['F32', 'I32', 'F32', 'F32']);
});

test('saveSafetensors writes what encodeSafetensors makes; a Record works as well as a Map', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'convnets-st-'));
  const tensors = { x: tensor([1, 2, 3]), y: tensor(new Int32Array([4])) };
  await saveSafetensors(join(dir, 'a.safetensors'), tensors, { epoch: '3' });
  assert.deepEqual(
    new Uint8Array(readFileSync(join(dir, 'a.safetensors'))),
    encodeSafetensors(tensors, { epoch: '3' }),
  );
  const back = await loadSafetensors(join(dir, 'a.safetensors'));
  assert.deepEqual(back.metadata, { epoch: '3' });
  assert.deepEqual(Array.from(back.tensors.get('x')!.data()), [1, 2, 3]);
});

/** A file from a header object and data, as the spec lays it out. */
function file(header: unknown, data: Uint8Array | number = 0, rawHeader?: Uint8Array): Uint8Array {
  const json = rawHeader ?? new TextEncoder().encode(JSON.stringify(header));
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(json.length), true);
  return concat(length, json, typeof data === 'number' ? new Uint8Array(data) : data);
}

const f32 = (shape: number[], begin: number, end: number) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, end],
});

test('every header violation is a FormatError naming the tensor and the field', () => {
  const cases: [Uint8Array, RegExp][] = [
    [
      file({ a: f32([2], 0, 12) }, 12),
      /tensor 'a': data_offsets \[0, 12\] span 12 bytes, but shape \[2\] of F32 needs 8/,
    ],
    [file({ a: f32([2], 0, 8) }, 4), /tensor 'a': data_offsets \[0, 8\] runs past the data \(4 bytes\)/],
    [file({ a: f32([2], 8, 0) }, 8), /tensor 'a': data_offsets \[8, 0\] ends before it begins/],
    [
      file({ a: f32([2], 0, 8), b: f32([1], 4, 8) }, 8),
      /tensor 'b': data_offsets \[4, 8\] overlap tensor 'a'/,
    ],
    [
      file({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12),
      /tensor 'b': data_offsets \[8, 12\] leave bytes 4…8 of the data unused/,
    ],
    [file({ a: f32([1], 0, 4) }, 8), /cover 4 bytes, but the data is 8 bytes/],
    [
      file({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, 8),
      /tensor 'a': dtype 'C64' is not supported/,
    ],
    [file({ a: { shape: [1], data_offsets: [0, 4] } }, 4), /tensor 'a': dtype is missing/],
    [
      file({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4),
      /tensor 'a': shape \[-1\] is not a list of non-negative integers/,
    ],
    [file({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 4), /tensor 'a': shape/],
    [
      file({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4),
      /tensor 'a': data_offsets \[0\] is not \[begin, end\]/,
    ],
    [file({ a: { dtype: 'F32', shape: [1], data_offsets: ['0', 4] } }, 4), /tensor 'a': data_offsets/],
    [file({ a: 5 }, 0), /tensor 'a': entry is not an object/],
    [file({ __metadata__: { n: 1 } }, 0), /__metadata__ 'n' is not a string/],
    [file({ __metadata__: [] }, 0), /__metadata__ is not an object/],
    [file(null, 0, new TextEncoder().encode('{"a": ')), /header is not valid JSON/],
    [
      file(null, 0, concat(new TextEncoder().encode('{"a'), [0xff], new TextEncoder().encode('": 1}'))),
      /header is not valid JSON/,
    ],
    [
      concat(
        new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        new TextEncoder().encode('{}'),
      ),
      /header length \d+ runs past the end of the file/,
    ],
    [
      file(
        {},
        0,
        new TextEncoder().encode(`{"a": {"dtype": "F32", "shape": ${'['.repeat(1e5)}${']'.repeat(1e5)}}}`),
      ),
      /tensor 'a': shape \[\[…\]\] is not a list/,
    ],
    [new Uint8Array([2, 0, 0, 0]), /shorter than its 8-byte header length/],
    [
      concat(new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0]), new TextEncoder().encode('[]')),
      /does not start with '\{'/,
    ],
    [
      file(
        { a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } },
        new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0]),
      ),
      /tensor 'a': int64 value 4294967296 at index 0 does not fit in int32/,
    ],
    [file({ a: f32([2 ** 40, 2 ** 40], 0, 8) }, 8), /tensor 'a': shape: .*too many elements/],
  ];
  assert.equal(decodeSafetensors(file({ a: f32([2], 0, 8) }, 8)).tensors.get('a')!.size, 2, 'the valid file');
  for (const [bytes, pattern] of cases)
    assertFormatError(() => decodeSafetensors(bytes), pattern, String(pattern));
});

test('a file cut anywhere is a FormatError', () => {
  const bytes = fixture('mixed.safetensors');
  for (let cut = 0; cut < bytes.length; cut++) {
    assertFormatError(() => decodeSafetensors(bytes.subarray(0, cut)), /safetensors/, `cut at ${cut}`);
  }
});

test('file errors name the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'convnets-st-'));
  const path = join(dir, 'broken.safetensors');
  await saveSafetensors(path, { a: tensor([1]) });
  await assert.rejects(loadSafetensors(readFileSync(path).subarray(0, 20)), /safetensors: header length/);
  writeFileSync(path, readFileSync(path).subarray(0, 20));
  await assert.rejects(loadSafetensors(path), (error: Error) =>
    error.message.startsWith(`${path}: safetensors:`),
  );
});

test('tensor and metadata counts are bounded, and so is the JSON one entry may take', () => {
  const empty = (count: number) =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [`t${i}`, f32([0], 0, 0)]));
  assert.equal(decodeSafetensors(file(empty(65_536))).tensors.size, 65_536);
  assertFormatError(
    () => decodeSafetensors(file(empty(65_537))),
    /the header lists more than 65536 tensors \(tensor 't65536'\)/,
  );
  const metadata = Object.fromEntries(Array.from({ length: 65_537 }, (_, i) => [`k${i}`, '']));
  assertFormatError(
    () => decodeSafetensors(file({ __metadata__: metadata })),
    /__metadata__ has more than 65536 entries/,
  );
  // Values the reader does not keep are skipped, never built: a megabyte of them in one entry is refused unread.
  const padding = new Array(2 ** 19).fill([]);
  assertFormatError(
    () => decodeSafetensors(file({ a: { ...f32([1], 0, 4), padding } }, 4)),
    /tensor 'a': entry is \d+ characters of JSON, more than a dtype, shape and offsets need/,
  );
  assert.equal(decodeSafetensors(file({ a: { ...f32([1], 0, 4), padding: [[], {}] } }, 4)).tensors.size, 1);
});

test("tensors keep the file's order, numeric names included; a repeated name keeps its last entry", () => {
  const header =
    '{"10": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "2": ' +
    '{"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, "2": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}';
  const { tensors } = decodeSafetensors(
    file(null, new Uint8Array(new Float32Array([1, 2]).buffer), ascii(header)),
  );
  assert.deepEqual([...tensors.keys()], ['10', '2']);
  assert.deepEqual(Array.from(tensors.get('2')!.data()), [2]);
});
