import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpy, encodeNpy, parseNpyHeader, readNpy, writeNpy } from '../../src/io/index.js';
import { tensor } from '../../src/tensor/index.js';
import { ascii, assertFormatError, assertTensor, concat, expected, fixture, fixturePath } from './helpers.js';

test('reads the NumPy fixtures exactly: float32, int32, int64 → int32, float64 → float32, a scalar', async () => {
  for (const name of ['float32.npy', 'int32.npy', 'int64.npy', 'float64.npy', 'scalar.npy']) {
    assertTensor(await readNpy(fixturePath(name)), expected[name], name);
    assertTensor(decodeNpy(fixture(name)), expected[name], `${name} from bytes`);
  }
});

test('reads format versions 1.0, 2.0 and 3.0', () => {
  for (const [name, version] of [
    ['float32.npy', 1],
    ['float32-v2.npy', 2],
    ['float32-v3.npy', 3],
  ] as const) {
    assert.deepEqual(parseNpyHeader(fixture(name)).version, [version, 0]);
    assertTensor(decodeNpy(fixture(name)), expected[name], name);
  }
  assert.equal(parseNpyHeader(fixture('int64.npy')).descr, '<i8');
});

test('refuses big-endian and Fortran-order arrays, and int64 values int32 cannot hold, saying why', () => {
  assertFormatError(() => decodeNpy(fixture('big-endian.npy')), /'>f4' is big-endian/);
  assertFormatError(() => decodeNpy(fixture('fortran.npy')), /fortran_order is True/);
  assertFormatError(
    () => decodeNpy(fixture('int64-overflow.npy')),
    /int64 value 2147483648 at index 2 does not fit in int32/,
  );
});

test('file errors name the file', async () => {
  await assert.rejects(readNpy(fixturePath('fortran.npy')), (error: Error) =>
    error.message.includes('fortran.npy: npy:'),
  );
});

/** A version 1.0 file with a hand-written header. */
function npy(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const length = [header.length & 0xff, header.length >> 8];
  return concat([0x93], ascii('NUMPY'), [1, 0], length, ascii(header), data);
}

test('malformed headers give FormatErrors naming the problem', () => {
  const four = new Uint8Array(16);
  const cases: [Uint8Array, RegExp][] = [
    [ascii('PK\x03\x04 not numpy at all'), /magic string/],
    [concat([0x93], ascii('NUMPY'), [4, 0], [0, 0]), /version 4.0/],
    [concat([0x93], ascii('NUMPY'), [1, 0], [200, 0], ascii('{}')), /header length 200 runs past the end/],
    [
      npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", four.subarray(0, 12)),
      /needs 16 bytes of data, the file has 12/,
    ],
    [
      npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", concat(four, [0])),
      /needs 16 bytes of data, the file has 17/,
    ],
    [npy("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", four), /'<c8' is not supported/],
    [npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", four), /structured dtype/],
    [npy("{'descr': '<f4', 'shape': (4,), }", four), /keys descr, shape; expected/],
    [npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)", four), /ends early/],
    [npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", four), /dimension -4/],
    [
      npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (4,), }", four),
      /fortran_order is not True or False/,
    ],
    [
      npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': ((((((((((((((((((((4,),),),),),),),),),),),),),),),),),),), }",
        four,
      ),
      /nests too deeply/,
    ],
    [npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } junk", four), /unexpected 'j'/],
    [npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", four), /too large/],
    [
      npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", four),
      /too many elements/,
    ],
    [
      npy("{'descr': 'constructor', 'fortran_order': False, 'shape': (4,), }", four),
      /'constructor' is not supported/,
    ],
  ];
  for (const [bytes, pattern] of cases) assertFormatError(() => decodeNpy(bytes), pattern, String(pattern));
});

test('a file cut anywhere is a FormatError', () => {
  for (const name of ['float32.npy', 'int64.npy', 'float32-v2.npy']) {
    const bytes = fixture(name);
    for (let cut = 0; cut < bytes.length; cut++) {
      assertFormatError(() => decodeNpy(bytes.subarray(0, cut)), /npy/, `${name} cut at ${cut}`);
    }
  }
});

test('the header NumPy writes is accepted in its other spellings (Python 2 longs, double quotes, no trailing comma)', () => {
  const t = decodeNpy(npy('{"descr": "<i4", "shape": (2L, 1L), "fortran_order": False}', new Uint8Array(8)));
  assert.deepEqual([...t.shape], [2, 1]);
  assert.equal(t.dtype, 'int32');
});

test('encodeNpy then decodeNpy gives the tensor back: float32, int32, scalar, empty', () => {
  const cases = [
    tensor([1.5, -2, 3.25, 1e-30, 6, Infinity], [2, 3]),
    tensor(new Int32Array([-(2 ** 31), 2 ** 31 - 1, 0]), [3]),
    tensor([42], []),
    tensor([], [0, 3]),
  ];
  for (const t of cases) {
    const bytes = encodeNpy(t);
    const header = parseNpyHeader(bytes);
    assert.equal(header.dataOffset % 64, 0, 'data aligned to 64 bytes as NumPy writes it');
    assert.deepEqual(header.version, [1, 0]);
    const back = decodeNpy(bytes);
    assert.deepEqual([...back.shape], [...t.shape]);
    assert.equal(back.dtype, t.dtype);
    assert.deepEqual(Array.from(back.data()), Array.from(t.data()));
  }
});

test('encodeNpy writes the header NumPy itself writes', () => {
  // np.save of np.zeros((2, 3), np.float32) writes exactly this header (padded with spaces to 118 bytes).
  const bytes = encodeNpy(tensor(new Float32Array(6), [2, 3]));
  const header = new TextDecoder().decode(bytes.subarray(10, parseNpyHeader(bytes).dataOffset));
  assert.equal(header.trimEnd(), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
  assert.ok(header.endsWith('\n'));
  assert.deepEqual(Array.from(bytes.subarray(0, 10)), [0x93, ...ascii('NUMPY'), 1, 0, 118, 0]);
});

test('writeNpy writes a file readNpy reads back, identical to encodeNpy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'convnets-npy-'));
  const t = decodeNpy(fixture('float32.npy'));
  const path = join(dir, 'x.npy');
  await writeNpy(path, t);
  assert.deepEqual(new Uint8Array(readFileSync(path)), encodeNpy(t));
  // NumPy's own file has the same bytes: same header, same data.
  assert.deepEqual(new Uint8Array(readFileSync(path)), fixture('float32.npy'));
  assertTensor(await readNpy(path), expected['float32.npy'], 'round trip');
});

test("a header longer than NumPy's own 10,000-byte limit is refused before it is parsed", () => {
  const padded = (length: number) => {
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }";
    return npy(dict + ' '.repeat(length - dict.length - 1) + '\n');
  };
  assert.deepEqual([...decodeNpy(padded(10_000)).shape], [0]);
  assertFormatError(
    () => decodeNpy(padded(10_001)),
    /npy: header length 10001 exceeds 10000 bytes, NumPy's own limit/,
  );
});
