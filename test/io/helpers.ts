import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { FormatError } from '../../src/errors.js';
import type { Tensor } from '../../src/tensor/index.js';

// Tests run from dist/test/io/; the fixtures are committed under test/fixtures/io/ at the repo root.
export function fixturePath(name: string): string {
  return new URL(`../../../test/fixtures/io/${name}`, import.meta.url).pathname;
}

export function fixture(name: string): Uint8Array {
  const buffer = readFileSync(fixturePath(name));
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

export interface Expected {
  shape: number[];
  dtype: 'float32' | 'int32';
  data: number[];
}

export const expected: Record<string, Record<string, Expected> & Expected> = JSON.parse(
  readFileSync(fixturePath('expected.json'), 'utf8'),
);

/** Shape, dtype and every value exactly as the fixture script recorded them. */
export function assertTensor(actual: Tensor | undefined, wanted: Expected, what: string): void {
  assert.ok(actual !== undefined, `${what}: missing`);
  assert.deepEqual([...actual.shape], wanted.shape, `${what}: shape`);
  assert.equal(actual.dtype, wanted.dtype, `${what}: dtype`);
  assert.deepEqual(Array.from(actual.data()), wanted.data, `${what}: values`);
}

export function assertTensors(
  actual: Map<string, Tensor>,
  wanted: Record<string, Expected>,
  what: string,
): void {
  assert.deepEqual([...actual.keys()].sort(), Object.keys(wanted).sort(), `${what}: keys`);
  for (const [key, value] of Object.entries(wanted)) assertTensor(actual.get(key), value, `${what} '${key}'`);
}

/** Asserts fn throws a FormatError whose message matches `pattern`. */
export function assertFormatError(fn: () => unknown, pattern: RegExp, what = ''): void {
  assert.throws(
    fn,
    (error: unknown) => {
      assert.ok(error instanceof FormatError, `${what}: expected a FormatError, got ${String(error)}`);
      assert.match(error.message, pattern, what);
      return true;
    },
    what,
  );
}

export const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function le(value: number, bytes: number): number[] {
  return Array.from({ length: bytes }, (_, i) => Math.floor(value / 2 ** (8 * i)) & 0xff);
}

/** A zip entry given as its already-compressed bytes: method 8 (deflate), with the sizes and CRC to declare. */
export interface DeflatedEntry {
  name: string;
  compressed: Uint8Array;
  size: number;
  crc: number;
}

/**
 * A minimal zip archive, for crafting PyTorch files the tests need: [name, data] entries are stored
 * (uncompressed), DeflatedEntry ones declare whatever sizes they are given.
 */
export function storedZip(entries: ([string, Uint8Array] | DeflatedEntry)[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const { name, data, method, size, crc } = Array.isArray(entry)
      ? { name: entry[0], data: entry[1], method: 0, size: entry[1].length, crc: crc32(entry[1]) >>> 0 }
      : { name: entry.name, data: entry.compressed, method: 8, size: entry.size, crc: entry.crc };
    const nameBytes = ascii(name);
    const common = [
      ...le(20, 2),
      ...le(0, 2),
      ...le(method, 2),
      ...le(0, 4),
      ...le(crc, 4),
      ...le(data.length, 4),
      ...le(size, 4),
    ];
    const local = concat(
      [0x50, 0x4b, 0x03, 0x04],
      common,
      le(nameBytes.length, 2),
      le(0, 2),
      nameBytes,
      data,
    );
    centrals.push(
      concat(
        [0x50, 0x4b, 0x01, 0x02],
        le(20, 2),
        common,
        le(nameBytes.length, 2),
        le(0, 6),
        le(0, 6),
        le(offset, 4),
        nameBytes,
      ),
    );
    locals.push(local);
    offset += local.length;
  }
  const directory = concat(...centrals);
  const end = concat(
    [0x50, 0x4b, 0x05, 0x06],
    le(0, 4),
    le(entries.length, 2),
    le(entries.length, 2),
    le(directory.length, 4),
    le(offset, 4),
    le(0, 2),
  );
  return concat(...locals, directory, end);
}

/** A torch-style archive holding one pickle and the given storages. */
export function pthArchive(pickle: Uint8Array, storages: [string, Uint8Array][] = []): Uint8Array {
  return storedZip([
    ['archive/data.pkl', pickle],
    ...storages.map(([key, data]): [string, Uint8Array] => [`archive/data/${key}`, data]),
    ['archive/version', ascii('3\n')],
  ]);
}

/** Pickle opcodes by name, for writing small pickles by hand. */
export const op = {
  PROTO2: [0x80, 0x02],
  MARK: [0x28],
  EMPTY_DICT: [0x7d],
  EMPTY_TUPLE: [0x29],
  SETITEM: [0x73],
  SETITEMS: [0x75],
  TUPLE: [0x74],
  TUPLE1: [0x85],
  REDUCE: [0x52],
  BINPERSID: [0x51],
  NEWFALSE: [0x89],
  STOP: [0x2e],
  int1: (n: number) => [0x4b, n],
  /** BININT1 below 256, else BININT (a signed 32-bit integer). */
  int: (n: number) => (n < 256 ? [0x4b, n] : [0x4a, ...le(n, 4)]),
  str: (s: string) => [0x58, ...le(s.length, 4), ...ascii(s)],
  global: (module: string, name: string) => [0x63, ...ascii(`${module}\n${name}\n`)],
};

export interface TensorSpec {
  key: string;
  numel: number;
  size: number[];
  stride: number[];
  offset?: number;
  storageType?: string;
  /** The storage's key in the archive; '0' unless given. */
  storage?: string;
}

/** The pickle torch writes for an OrderedDict of tensors, each over its storage with its offset and strides. */
export function stateDictPickle(tensors: TensorSpec[]): Uint8Array {
  const tuple = (items: number[]) => [...op.MARK, ...items.flatMap(op.int), ...op.TUPLE];
  const items = tensors.map((spec) =>
    concat(
      op.str(spec.key),
      op.global('torch._utils', '_rebuild_tensor_v2'),
      op.MARK,
      op.MARK,
      op.str('storage'),
      op.global('torch', spec.storageType ?? 'FloatStorage'),
      op.str(spec.storage ?? '0'),
      op.str('cpu'),
      op.int(spec.numel),
      op.TUPLE,
      op.BINPERSID,
      op.int(spec.offset ?? 0),
      tuple(spec.size),
      tuple(spec.stride),
      op.NEWFALSE,
      op.global('collections', 'OrderedDict'),
      op.EMPTY_TUPLE,
      op.REDUCE,
      op.TUPLE,
      op.REDUCE,
      op.SETITEM,
    ),
  );
  return concat(
    op.PROTO2,
    op.global('collections', 'OrderedDict'),
    op.EMPTY_TUPLE,
    op.REDUCE,
    ...items,
    op.STOP,
  );
}

/**
 * The pickle torch writes for {key: float32 tensor of `size` over storage '0' of `numel` elements}, with the given
 * storage offset and strides.
 */
export function tensorDictPickle(key: string, options: Omit<TensorSpec, 'key'>): Uint8Array {
  return stateDictPickle([{ key, ...options }]);
}

export function float32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** A deterministic generator for the fuzz test (mulberry32). */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
