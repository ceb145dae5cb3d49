import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../../../src/errors.js';
import { ProtoReader, ProtoWriter } from '../../../src/io/protobuf.js';
import { DataType } from '../../../src/graph/onnx-ir.js';
import { decodeModelProto, decodeTensorProto } from '../../../src/io/onnx/proto.js';
import { encodeModelProto, encodeTensorProto } from '../../../src/io/onnx/proto-encode.js';
import { decodeTensorData, emptyTensor } from '../../../src/io/onnx/tensor-data.js';
import { fixture, model, node } from '../../graph/helpers.js';

/** Bytes of one message holding the fields the writer callback writes. */
function bytesOf(build: (w: ProtoWriter) => void): Uint8Array {
  const w = new ProtoWriter();
  build(w);
  return w.finish();
}

function int64s(bytes: Uint8Array): number[] {
  const r = new ProtoReader(bytes, 'ONNX', 'Test');
  const out: number[] = [];
  while (r.next()) r.repeatedInt64('values', out);
  return out;
}

test('varints: the wire examples of the protobuf spec', () => {
  // 150 is 0x96 0x01 (protobuf.dev's encoding guide); −1 as int64 takes ten bytes.
  assert.deepEqual([...bytesOf((w) => w.int64(1, 150))], [0x08, 0x96, 0x01]);
  const minusOne = bytesOf((w) => w.int64(1, -1));
  assert.deepEqual([...minusOne], [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  assert.deepEqual(int64s(minusOne), [-1]);
});

test('int64 values round-trip, packed and unpacked, up to 2^53 and down to −2^53', () => {
  const values = [0, 1, 127, 128, 300, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 + 5, -7, 2 ** 53 - 1, -(2 ** 53 - 1)];
  assert.deepEqual(int64s(bytesOf((w) => w.packedInt64(1, values))), values);
  assert.deepEqual(int64s(bytesOf((w) => values.forEach((v) => w.int64(1, v)))), values);
});

test("INT64_MAX, Slice's 'to the end', reads as 2^63", () => {
  // 0x7fffffffffffffff: nine bytes of 0xff then 0x7f.
  const bytes = Uint8Array.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
  assert.deepEqual(int64s(bytes), [2 ** 63]);
});

test('a field of the wrong wire type is a FormatError naming the message and field', () => {
  const t = bytesOf((w) => w.string(2, 'x')); // data_type (field 2) should be a varint
  assert.throws(
    () => decodeTensorProto(t),
    (e: Error) => e instanceof FormatError && /TensorProto: data_type \(field 2\)/.test(e.message),
  );
});

test('lengths that run past the end are FormatErrors, not crashes', () => {
  const t = bytesOf((w) => w.bytes(9, new Uint8Array(10)));
  const cut = t.subarray(0, t.length - 3);
  assert.throws(
    () => decodeTensorProto(cut),
    (e: Error) => e instanceof FormatError && /raw_data.*runs past the end/.test(e.message),
  );
  const endless = Uint8Array.from([0x08, 0xff, 0xff]); // a varint with its continuation bit set at the end
  assert.throws(() => decodeTensorProto(endless), FormatError);
  const long = Uint8Array.from([0x08, ...new Array(11).fill(0xff), 0x01]);
  assert.throws(() => decodeTensorProto(long), /longer than 10 bytes/);
  assert.throws(() => decodeTensorProto(Uint8Array.from([0x0b])), /wire type 3/); // groups are not used by ONNX
});

test('unknown fields of every wire type are skipped', () => {
  const bytes = bytesOf((w) => {
    w.int64(99, 5)
      .float(98, 1.5)
      .bytes(97, new Uint8Array([1, 2, 3]))
      .int64(1, 4)
      .int64(2, DataType.FLOAT);
    w.packedFloat(4, [1, 2, 3, 4]);
  });
  const t = decodeTensorProto(bytes);
  assert.deepEqual(t.dims, [4]);
  assert.deepEqual(Array.from(decodeTensorData(t, 't').values), [1, 2, 3, 4]);
});

test('tensors: raw_data and the typed fields give the same values; lengths must match dims', () => {
  const raw = encodeTensorProto({
    ...emptyTensor(),
    dims: [2],
    dataType: DataType.INT64,
    rawData: new Uint8Array(new BigInt64Array([-3n, 2n ** 40n]).buffer),
  });
  assert.deepEqual(decodeTensorData(decodeTensorProto(raw), 'raw').values, [-3, 2 ** 40]);
  const typed = encodeTensorProto({
    ...emptyTensor(),
    dims: [2],
    dataType: DataType.INT64,
    int64Data: [-3, 2 ** 40],
  });
  assert.deepEqual(decodeTensorData(decodeTensorProto(typed), 'typed').values, [-3, 2 ** 40]);
  const short = encodeTensorProto({
    ...emptyTensor(),
    dims: [3],
    dataType: DataType.FLOAT,
    floatData: [1, 2],
  });
  assert.throws(
    () => decodeTensorData(decodeTensorProto(short), 'short'),
    /has 2 float_data values, its dims need 3/,
  );
  const double = encodeTensorProto({
    ...emptyTensor(),
    dims: [2],
    dataType: DataType.DOUBLE,
    rawData: new Uint8Array(new Float64Array([0.5, -2]).buffer),
  });
  assert.deepEqual(Array.from(decodeTensorData(decodeTensorProto(double), 'double').values), [0.5, -2]);
  // float16 0x3c00 = 1, 0xc000 = −2, in int32_data.
  const half = encodeTensorProto({
    ...emptyTensor(),
    dims: [2],
    dataType: DataType.FLOAT16,
    int32Data: [0x3c00, 0xc000],
  });
  assert.deepEqual(Array.from(decodeTensorData(decodeTensorProto(half), 'half').values), [1, -2]);
});

test('external data is a clear error naming the file', () => {
  const t = {
    ...emptyTensor(),
    name: 'w',
    dims: [2],
    dataType: DataType.FLOAT,
    dataLocation: 1,
    externalData: [['location', 'weights.bin'] as [string, string]],
  };
  assert.throws(
    () => decodeTensorData(t, 'initialiser'),
    (e: Error) => e instanceof FormatError && /'w'.*external file \('weights.bin'\)/.test(e.message),
  );
});

test('a model survives encode → decode with its nodes, attributes and opset', () => {
  const original = model({
    nodes: [node('Relu', ['x'], ['y'], [], 'r')],
    inputs: [['x', [1, 3]]],
    outputs: ['y'],
    opset: 11,
  });
  const decoded = decodeModelProto(encodeModelProto(original).finish());
  assert.equal(decoded.irVersion, 8);
  assert.deepEqual(decoded.opsetImport, [{ domain: '', version: 11 }]);
  assert.equal(decoded.graph.node[0].opType, 'Relu');
  assert.equal(decoded.graph.node[0].name, 'r');
  assert.deepEqual(decoded.graph.input[0].type?.shape, [1, 3]);
});

test('what is not an ONNX model says so', () => {
  assert.throws(() => decodeModelProto(new Uint8Array(0)), /^FormatError: not an ONNX model: .*no graph/);
  assert.throws(
    () => decodeModelProto(new TextEncoder().encode('PK\x03\x04 not onnx')),
    /^FormatError: not an ONNX model: ONNX ModelProto: /,
  );
  // A real model cut short anywhere is refused.
  const bytes = fixture('small-opset13.onnx');
  for (const cut of [1, 10, 100, 1000, bytes.length - 1])
    assert.throws(() => decodeModelProto(bytes.subarray(0, cut)), FormatError);
});
