import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../../../src/errors.js';
import { decodeOnnx, encodeOnnx } from '../../../src/io/onnx/index.js';
import { DataType } from '../../../src/graph/onnx-ir.js';
import { decodeTensorProto } from '../../../src/io/onnx/proto.js';
import { encodeTensorProto } from '../../../src/io/onnx/proto-encode.js';
import { decodeTensorData, emptyTensor } from '../../../src/io/onnx/tensor-data.js';
import { Conv2d, Flatten, Linear, ReLU, Sequential } from '../../../src/nn/index.js';
import { scope } from '../../../src/tensor/index.js';
import { seeded } from '../helpers.js';
import { fixture } from '../../graph/helpers.js';

/**
 * Seeded mutations of small .onnx files and serialised tensors, fed to the protobuf and ONNX readers (decode and
 * import): each outcome must be a model or a FormatError, never another error, a crash or a hang (every loop is
 * bounded by the input's length; the test's timeout bounds the run).
 */
const MUTATIONS = Number(process.env.CONVNETS_FUZZ_MUTATIONS ?? 1000);
const SEED = Number(process.env.CONVNETS_FUZZ_SEED ?? 20240611);

/** Values that make varint lengths and counts lie: small, at the 7-bit boundaries, huge, negative. */
const VARINTS = [
  [0x00],
  [0x01],
  [0x7f],
  [0x80, 0x01],
  [0xff, 0xff, 0xff, 0xff, 0x0f],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
];

function mutate(bytes: Uint8Array, random: () => number): { bytes: Uint8Array; how: string } {
  const at = (n = bytes.length) => Math.floor(random() * n);
  const out = bytes.slice();
  switch (at(6)) {
    case 0: {
      const flips = 1 + at(4);
      for (let i = 0; i < flips; i++) out[at()] ^= 1 << at(8);
      return { bytes: out, how: `${flips} bit flips` };
    }
    case 1: {
      const i = at();
      out[i] = at(256);
      return { bytes: out, how: `byte ${i} set` };
    }
    case 2: {
      const cut = at();
      return { bytes: bytes.slice(0, cut), how: `cut at ${cut}` };
    }
    case 3: {
      // A varint spliced in where a length or value was: lengths and counts that lie.
      const i = at();
      const varint = VARINTS[at(VARINTS.length)];
      const n = 1 + at(3);
      return {
        bytes: Uint8Array.from([...bytes.subarray(0, i), ...varint, ...bytes.subarray(i + n)]),
        how: `${n} bytes at ${i} replaced by varint [${varint}]`,
      };
    }
    case 4: {
      const i = at();
      const n = 1 + at(32);
      return {
        bytes: Uint8Array.from([...bytes.subarray(0, i), ...bytes.subarray(i + n)]),
        how: `${n} bytes deleted at ${i}`,
      };
    }
    default: {
      const [i, j, n] = [at(), at(), 1 + at(64)];
      out.set(bytes.subarray(j, j + n).subarray(0, Math.max(0, out.length - i)), i);
      return { bytes: out, how: `${n} bytes copied from ${j} to ${i}` };
    }
  }
}

function fuzz(
  name: string,
  original: Uint8Array,
  read: (bytes: Uint8Array) => void,
  seed: number,
): { failures: string[]; outcomes: Record<string, number> } {
  const random = seeded(seed);
  const outcomes = { read: 0, refused: 0 };
  const failures: string[] = [];
  for (let m = 0; m < MUTATIONS; m++) {
    const { bytes, how } = mutate(original, random);
    try {
      scope(() => read(bytes));
      outcomes.read++;
    } catch (error) {
      if (error instanceof FormatError) outcomes.refused++;
      else failures.push(`${name}, mutation ${m} (${how}): ${String(error)}`);
    }
  }
  return { failures, outcomes };
}

const exported = encodeOnnx(
  new Sequential(new Conv2d(1, 2, 3, { padding: 1 }), new ReLU(), new Flatten(), new Linear(32, 3)),
  [1, 1, 4, 4],
);

const MODELS: [string, Uint8Array][] = [
  ['small-opset13.onnx', fixture('small-opset13.onnx')],
  ['small-opset9.onnx', fixture('small-opset9.onnx')],
  ['exported by convnets', exported],
];

test('mutated .onnx files import or give a FormatError, never another error', { timeout: 120_000 }, () => {
  MODELS.forEach(([name, bytes], i) => {
    const { failures, outcomes } = fuzz(name, bytes, (b) => void decodeOnnx(b), SEED + i);
    assert.deepEqual(failures, []);
    assert.ok(outcomes.refused > 0, `${name}: ${JSON.stringify(outcomes)}`);
  });
});

test('mutated TensorProtos decode or give a FormatError', { timeout: 60_000 }, () => {
  const tensors = [
    encodeTensorProto({
      ...emptyTensor(),
      name: 'f',
      dims: [2, 3],
      dataType: DataType.FLOAT,
      rawData: new Uint8Array(24).fill(0x3f),
    }),
    encodeTensorProto({
      ...emptyTensor(),
      name: 'i',
      dims: [4],
      dataType: DataType.INT64,
      int64Data: [1, -2, 2 ** 40, 0],
    }),
    encodeTensorProto({
      ...emptyTensor(),
      name: 'h',
      dims: [2],
      dataType: DataType.FLOAT16,
      int32Data: [0x3c00, 0x7c00],
    }),
  ];
  tensors.forEach((bytes, i) => {
    const { failures } = fuzz(
      `tensor ${i}`,
      bytes,
      (b) => void decodeTensorData(decodeTensorProto(b), 'fuzzed'),
      SEED + 10 + i,
    );
    assert.deepEqual(failures, []);
  });
});
