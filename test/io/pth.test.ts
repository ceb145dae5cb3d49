import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, deflateRawSync } from 'node:zlib';
import { ValueError } from '../../src/errors.js';
import { decodePth, loadPth } from '../../src/io/index.js';
import { unpickle } from '../../src/io/pth/pickle.js';
import { ZipArchive } from '../../src/io/pth/zip.js';
import {
  ascii,
  assertFormatError,
  assertTensors,
  concat,
  expected,
  fixture,
  fixturePath,
  float32Bytes,
  op,
  pthArchive,
  stateDictPickle,
  storedZip,
  tensorDictPickle,
} from './helpers.js';

test('reads torch.save(state_dict) of conv + BN + linear exactly, num_batches_tracked as int32', async () => {
  const tensors = await loadPth(fixturePath('sequential.pth'));
  assertTensors(tensors, expected['sequential.pth'], 'sequential.pth');
  assert.deepEqual([...tensors.keys()], Object.keys(expected['sequential.pth']), 'the state dict order');
  assert.equal(tensors.get('1.num_batches_tracked')!.dtype, 'int32');
});

test('reads the same state dict deflated, pickled with protocol 4, and in the legacy (pre-1.6) format', () => {
  for (const name of ['sequential-deflated.pth', 'sequential-protocol4.pth', 'sequential-legacy.pth']) {
    assertTensors(decodePth(fixture(name)), expected['sequential.pth'], name);
  }
});

test('reads float16, bfloat16, float64, int64, int32, scalars, empty tensors and views of shared storage', () => {
  // transposed (stride [1, 4]), rows (offset 4) and column (offset 2, stride 4) share one storage.
  assertTensors(decodePth(fixture('mixed.pth')), expected['mixed.pth'], 'mixed.pth');
});

test('an int64 that int32 cannot hold is an error naming the key, the value and its index', () => {
  assertFormatError(
    () => decodePth(fixture('int64-overflow.pth')),
    /'big': int64 value 1099511627776 at index 1 does not fit in int32/,
  );
});

test('the zip reader lists torch entries and checks every offset', () => {
  const archive = new ZipArchive(fixture('sequential.pth'));
  assert.ok(archive.entries.has('sequential/data.pkl'));
  assert.ok(archive.entries.has('sequential/version'));
  assert.equal(archive.read('sequential/version').length, 2);
  assertFormatError(() => archive.read('nope'), /no entry 'nope'/);
  const made = storedZip([['a/b', ascii('hello')]]);
  assert.deepEqual(new ZipArchive(made).read('a/b'), ascii('hello'));
  // A central directory pointing past the end of the file.
  const lying = made.slice();
  new DataView(lying.buffer).setUint32(lying.length - 6, 1000, true);
  assertFormatError(() => new ZipArchive(lying), /central directory \[1000, \d+\) runs past the end/);
  // A local header offset pointing nowhere.
  const offsetLie = made.slice();
  new DataView(offsetLie.buffer).setUint32(offsetLie.length - 22 - 3 - 4, 7, true);
  assertFormatError(() => new ZipArchive(offsetLie).read('a/b'), /no local header at offset 7/);
  // A flipped data byte fails the CRC check.
  const flipped = made.slice();
  flipped[30 + 3] ^= 1;
  assertFormatError(() => new ZipArchive(flipped).read('a/b'), /'a\/b' is corrupt: CRC-32/);
  assertFormatError(
    () => new ZipArchive(ascii('PK\x03\x04 and nothing else')),
    /no end-of-central-directory record/,
  );
});

test('a deflated entry that inflates to more or less than declared is refused', () => {
  const data = ascii('x'.repeat(100));
  const zip = storedZip([['a', deflateRawSync(data)]]);
  // Mark it deflated (method 8) in the central directory, declaring 100 bytes.
  const view = new DataView(zip.buffer);
  const central = zip.length - 22 - 46 - 1;
  view.setUint16(central + 10, 8, true);
  view.setUint32(central + 24, 10, true);
  assertFormatError(() => new ZipArchive(zip).read('a'), /'a' does not inflate|inflates to/);
});

test('a file cut anywhere is a FormatError', () => {
  for (const name of ['sequential.pth', 'sequential-legacy.pth', 'mixed.pth']) {
    const bytes = fixture(name);
    for (let cut = 0; cut < bytes.length; cut += name === 'mixed.pth' ? 1 : 3) {
      assertFormatError(() => decodePth(bytes.subarray(0, cut)), /./, `${name} cut at ${cut}`);
    }
  }
});

test('wrong magic is a FormatError saying what the file is not', () => {
  assertFormatError(() => decodePth(ascii('hello world')), /not a PyTorch file/);
  assertFormatError(() => decodePth(fixture('float32.npy')), /not a PyTorch file/);
  assertFormatError(() => decodePth(storedZip([['x/model.json', ascii('{}')]])), /no <name>\/data\.pkl/);
  const torchScript = storedZip([
    ['m/data.pkl', ascii('.')],
    ['m/code/__torch__.py', ascii('')],
  ]);
  assertFormatError(() => decodePth(torchScript), /TorchScript archive/);
  const tar = new Uint8Array(600);
  tar.set(ascii('ustar'), 257);
  assertFormatError(() => decodePth(tar), /tar-based PyTorch file/);
});

test('crafted archives: a hand-written state dict reads; views are materialised row-major', () => {
  const storage = float32Bytes([0, 1, 2, 3, 4, 5]);
  const plain = pthArchive(tensorDictPickle('w', { numel: 6, size: [2, 3], stride: [3, 1] }), [
    ['0', storage],
  ]);
  assert.deepEqual(Array.from(decodePth(plain).get('w')!.data()), [0, 1, 2, 3, 4, 5]);
  const transposed = pthArchive(tensorDictPickle('w', { numel: 6, size: [3, 2], stride: [1, 3] }), [
    ['0', storage],
  ]);
  assert.deepEqual(Array.from(decodePth(transposed).get('w')!.data()), [0, 3, 1, 4, 2, 5]);
  const expanded = pthArchive(tensorDictPickle('w', { numel: 6, size: [2, 2], stride: [0, 2], offset: 1 }), [
    ['0', storage],
  ]);
  assert.deepEqual(Array.from(decodePth(expanded).get('w')!.data()), [1, 3, 1, 3]);
});

test('lying sizes, strides and offsets are errors naming the key', () => {
  const storage = float32Bytes([0, 1, 2, 3, 4, 5]);
  const cases: [Uint8Array, RegExp][] = [
    [
      pthArchive(tensorDictPickle('w', { numel: 6, size: [7], stride: [1] }), [['0', storage]]),
      /'w': size \[7\], stride \[1\] at offset 0 reach element 6 of a 6-element storage/,
    ],
    [
      pthArchive(tensorDictPickle('w', { numel: 6, size: [2, 3], stride: [3, 1], offset: 1 }), [
        ['0', storage],
      ]),
      /'w': .*reach element 6/,
    ],
    [
      pthArchive(tensorDictPickle('w', { numel: 6, size: [3, 2], stride: [1, 4] }), [['0', storage]]),
      /'w': .*reach element 6/,
    ],
    [
      pthArchive(tensorDictPickle('w', { numel: 7, size: [6], stride: [1] }), [['0', storage]]),
      /storage '0' holds 24 bytes, but 7 float32 elements need 28/,
    ],
    [
      pthArchive(tensorDictPickle('w', { numel: 6, size: [6], stride: [1] })),
      /storage '0' has no entry 'archive\/data\/0'/,
    ],
    [
      pthArchive(tensorDictPickle('w', { numel: 6, size: [6], stride: [1, 1] }), [['0', storage]]),
      /size has 1 dimensions but stride 2/,
    ],
    [
      pthArchive(
        tensorDictPickle('w', { numel: 6, size: [6], stride: [1], storageType: 'ComplexFloatStorage' }),
        [['0', storage]],
      ),
      /global 'torch.ComplexFloatStorage' is not allowed/,
    ],
  ];
  for (const [bytes, pattern] of cases) assertFormatError(() => decodePth(bytes), pattern, String(pattern));
});

test('a GLOBAL outside the allow-list (os.system) is refused and named, and nothing runs', () => {
  const evil = concat(
    op.PROTO2,
    op.global('os', 'system'),
    op.str('echo pwned'),
    op.TUPLE1,
    op.REDUCE,
    op.STOP,
  );
  assertFormatError(
    () => decodePth(pthArchive(evil)),
    /data\.pkl offset 2 \(GLOBAL\): global 'os\.system' is not allowed/,
  );
  // The same through protocol 4's STACK_GLOBAL.
  const stacked = concat(
    [0x80, 0x04],
    [0x8c, 8],
    ascii('builtins'),
    [0x8c, 4],
    ascii('eval'),
    [0x93],
    op.STOP,
  );
  assertFormatError(
    () => decodePth(pthArchive(stacked)),
    /offset 18 \(STACK_GLOBAL\): global 'builtins\.eval' is not allowed/,
  );
  // An allowed global that is not callable.
  const notCallable = concat(
    op.PROTO2,
    op.global('torch', 'FloatStorage'),
    op.EMPTY_TUPLE,
    op.REDUCE,
    op.STOP,
  );
  assertFormatError(
    () => decodePth(pthArchive(notCallable)),
    /\(REDUCE\): 'torch\.FloatStorage' cannot be called/,
  );
});

test('pickle opcodes outside the subset are named with their offset', () => {
  const cases: [number[], RegExp][] = [
    [[0x80, 2, 0x69, ...ascii('os\nsystem\n'), 0x2e], /offset 2 \(INST\): opcode is outside the subset/],
    [[0x80, 2, 0x4e, 0x30, 0x2e], /offset 3 \(POP\): opcode is outside the subset/],
    [[0x80, 2, 0x81, 0x2e], /offset 2 \(NEWOBJ\)/],
    [[0x80, 2, 0xff, 0x2e], /offset 2 \(0xff\)/],
    [[0x80, 2, 0x4e], /offset 3 \(opcode\): the data ends before STOP/],
    [[0x80, 2, 0x2e], /offset 2 \(STOP\): the stack is empty/],
    [[0x80, 2, 0x4e, 0x4e, 0x2e], /values are left on the stack/],
    [[0x80, 2, 0x68, 5, 0x2e], /\(BINGET\): memo entry 5 was never stored/],
    [[0x80, 2, 0x58, 0xff, 0xff, 0, 0, 0x2e], /\(BINUNICODE\): needs 65535 more bytes/],
    [[0x80, 2, 0x4e, 0x4e, 0x73, 0x2e], /\(SETITEM\): .*cannot set items on None|the stack is empty/],
    [[0x80, 2, 0x5d, 0x4e, 0x4e, 0x73, 0x2e], /\(SETITEM\): cannot set items on list/],
    [[0x80, 2, 0x7d, 0x5d, 0x4e, 0x73, 0x2e], /\(SETITEM\): dict key list is not supported/],
    [[0x80, 2, 0x74, 0x2e], /\(TUPLE\): no MARK to pop to/],
    [[0x80, 2, 0x4e, 0x4e, 0x62, 0x2e], /\(BUILD\): cannot set the state of None from None/],
    [[0x80, 2, 0x4e, 0x51, 0x2e], /\(BINPERSID\): persistent id None is not a 5-item/],
    [[0x80, 9, 0x2e], /protocol 9 is unknown/],
  ];
  for (const [bytes, pattern] of cases)
    assertFormatError(() => decodePth(pthArchive(Uint8Array.from(bytes))), pattern, String(pattern));
});

test('the pickle reader builds plain values and reads the legacy magic number as a BigInt', () => {
  const { value, end } = unpickle(fixture('sequential-legacy.pth'), { globals: new Map(), name: 'magic' });
  assert.equal(value, 0x1950a86a20f9469cfc6cn);
  assert.equal(end, 15);
  const floats = unpickle(
    Uint8Array.from([0x80, 2, 0x47, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, 0x2e]),
    { globals: new Map(), name: 'f' },
  );
  assert.equal(floats.value, Math.PI);
  const negative = unpickle(Uint8Array.from([0x80, 2, 0x8a, 2, 0x00, 0xff, 0x2e]), {
    globals: new Map(),
    name: 'n',
  });
  assert.equal(negative.value, -256);
});

test('a top level that is not a dict, or a dict that contains itself, is refused', () => {
  assertFormatError(
    () => decodePth(pthArchive(Uint8Array.from([0x80, 2, 0x4e, 0x2e]))),
    /holds a None, not a state dict/,
  );
  // d = {}; d['a'] = d
  const cyclic = Uint8Array.from([0x80, 2, 0x7d, 0x71, 0, ...op.str('a'), 0x68, 0, 0x73, 0x2e]);
  assertFormatError(() => decodePth(pthArchive(cyclic)), /contain themselves/);
});

test('nested dicts flatten to dotted keys and non-tensor values are skipped', () => {
  const storage = float32Bytes([1, 2]);
  const inner = tensorDictPickle('w', { numel: 2, size: [2], stride: [1] });
  // {'model': <inner dict>, 'epoch': 3}: splice the inner dict's body (after PROTO, before STOP) into an outer one.
  const body = inner.subarray(2, inner.length - 1);
  const outer = concat(
    op.PROTO2,
    op.EMPTY_DICT,
    op.str('model'),
    body,
    op.SETITEM,
    op.str('epoch'),
    op.int1(3),
    op.SETITEM,
    op.STOP,
  );
  const tensors = decodePth(pthArchive(outer, [['0', storage]]));
  assert.deepEqual([...tensors.keys()], ['model.w']);
  assert.deepEqual(Array.from(tensors.get('model.w')!.data()), [1, 2]);
});

/** A deflated entry `name` declaring `size` bytes and the given CRC-32 over `compressed`. */
const deflated = (name: string, compressed: Uint8Array, size: number, crc = 0) => ({
  name,
  compressed,
  size,
  crc,
});

test('an entry declaring more than deflate can produce from its bytes is refused before it is inflated', () => {
  const compressed = deflateRawSync(new Uint8Array(1000));
  const zip = storedZip([deflated('a', compressed, 1032 * compressed.length + 1)]);
  assertFormatError(
    () => new ZipArchive(zip).read('a'),
    new RegExp(
      `entry 'a' declares ${1032 * compressed.length + 1} bytes from ${compressed.length} compressed`,
    ),
  );
});

test("a storage entry is checked against the pickle's size and the read limit before it is inflated", () => {
  const pickle = tensorDictPickle('w', { numel: 6, size: [6], stride: [1] });
  // Not deflate data at all: were it inflated, the error would say so instead.
  const garbage = new Uint8Array(64).fill(0xff);
  const lying = storedZip([['archive/data.pkl', pickle], deflated('archive/data/0', garbage, 28)]);
  assertFormatError(
    () => decodePth(lying),
    /entry 'archive\/data\/0': storage '0' holds 28 bytes, but 6 float32 elements need 24/,
  );
  const values = float32Bytes([1, 2, 3, 4, 5, 6]);
  const honest = storedZip([
    ['archive/data.pkl', pickle],
    deflated('archive/data/0', deflateRawSync(values), 24, crc32(values) >>> 0),
  ]);
  assert.deepEqual(Array.from(decodePth(honest).get('w')!.data()), [1, 2, 3, 4, 5, 6]);
  assertFormatError(
    () => decodePth(honest, { maxBytes: 23 }),
    /entry 'archive\/data\/0' needs 24 bytes, which would take what this file expands to past 23 bytes \(the maxBytes given\)/,
  );
});

test('views that repeat a storage are bounded in total by the read limit, checked before any is materialised', () => {
  const storage = float32Bytes([7]);
  const views = (count: number, size: number) =>
    pthArchive(
      stateDictPickle(
        Array.from({ length: count }, (_, i) => ({ key: `w${i}`, numel: 1, size: [size], stride: [0] })),
      ),
      [['0', storage]],
    );
  const small = decodePth(views(2, 1000));
  assert.deepEqual(Array.from(small.get('w1')!.data()), new Array(1000).fill(7));
  // The default limit is 16 × the file's size, at least 256 MiB: five views of 2^24 floats pass it at the fifth.
  assertFormatError(
    () => decodePth(views(5, 2 ** 24)),
    /'w4': 16777216 elements over a 1-element storage needs 67108864 bytes, which would take what this file expands to past 268435456 bytes \(16 × the file's \d+ bytes, at least 268435456\); pass \{ maxBytes \}/,
  );
  assertFormatError(() => decodePth(views(2, 1000), { maxBytes: 7999 }), /'w1': 1000 elements/);
  assert.equal(decodePth(views(2, 1000), { maxBytes: 8000 }).size, 2);
  assert.throws(() => decodePth(views(1, 1), { maxBytes: -1 }), ValueError);
});

test('a pickle that builds more values than a state dict could need is refused as it builds them', () => {
  // EMPTY_DICT is one byte and costs a Map: a few megabytes of them would take gigabytes of heap.
  const dicts = concat(op.PROTO2, new Uint8Array(1_000_000).fill(0x7d), op.STOP);
  assertFormatError(
    () => decodePth(pthArchive(dicts)),
    /data\.pkl offset \d+ \(EMPTY_DICT\): the pickle builds more than 268435456 bytes of values/,
  );
  // MEMOIZE is one byte too, and a Map holds at most 2^24 entries: the bound comes first.
  const memo = concat(op.PROTO2, op.EMPTY_DICT, new Uint8Array(6_000_000).fill(0x94), op.STOP);
  assertFormatError(() => decodePth(pthArchive(memo)), /\(MEMOIZE\): the pickle builds more than/);
});
