// The native backend's hand-written kernels (axpby, a copy, a fill; native/src/recording.h's HandWritten) find
// their memory in their arguments when they run. A recording then pins exactly the memory each touches, and a
// replay points their inputs at the caller's storages: a kernel that reached memory any other way would read a
// recorded input instead of the replay's, or write into memory handed out since.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Shape, Storage } from '../../../src/backend/backend.js';
import { Generator } from '../../../src/tensor/index.js';
import { assertClose } from '../reference/helpers.js';
import { native, reference, skipNative } from './helpers.js';

process.env.CONVNETS_THREADS ??= '1';

interface Case {
  name: string;
  inputs: Shape[];
  outShape: Shape;
  /** The kernel call on `backend`, which records one hand-written step on the native backend. */
  run: (backend: typeof reference, inputs: Storage[]) => Storage;
}

const shape = [4, 6];
const cases: Case[] = [
  {
    name: 'axpby',
    inputs: [shape, shape],
    outShape: shape,
    run: (b, [x, y]) => b.axpby(0.5, x, -2, y, shape),
  },
  {
    name: 'a reduction over no axis (a copy)',
    inputs: [shape],
    outShape: shape,
    run: (b, [x]) => b.reduce('sum', x, [1, ...shape], []),
  },
  {
    name: 'pad (a fill, then the input placed)',
    inputs: [shape],
    outShape: [6, 9],
    run: (b, [x]) => b.pad(x, shape, [1, 2], [1, 1], 7),
  },
  {
    name: 'matmul with k = 0 (a fill)',
    inputs: [
      [1, 0],
      [0, 5],
    ],
    outShape: [1, 3, 5],
    run: (b, [x, y]) => b.matmul(x, y, 1, 3, 0, 5, false, false),
  },
];

function normals(generator: Generator, shape: Shape): Float32Array {
  const n = shape.reduce((a, d) => a * d, 1);
  return Float32Array.from({ length: n }, () => generator.normal());
}

for (const c of cases) {
  test(`${c.name}: a replay reads the replay's inputs`, { skip: skipNative }, () => {
    const backend = native();
    const generator = new Generator(21);
    const upload = () => c.inputs.map((s) => backend.upload(normals(generator, s), s));
    const recorded = upload();
    let output: Storage | null = null;
    const recording = backend.recorder.record(recorded, () => [(output = c.run(backend, recorded))]);
    assert.ok(recording !== null && output !== null, 'recorded');
    for (let replay = 0; replay < 2; replay++) {
      const given = upload();
      const values = given.map((x, i) => backend.read(x, c.inputs[i]));
      recording.replay(given);
      const copies = values.map((v, i) => reference.upload(v, c.inputs[i]));
      const expected = reference.read(c.run(reference, copies), c.outShape);
      assertClose(backend.read(output, c.outShape), expected, 1e-6, `replay ${replay + 1}`);
      given.forEach((x, i) => assert.deepEqual(backend.read(x, c.inputs[i]), values[i], `input ${i} kept`));
    }
    recording.release();
  });

  test(`${c.name}: a replay writes only memory the recording holds`, { skip: skipNative }, () => {
    const backend = native();
    const generator = new Generator(22);
    const inputs = c.inputs.map((s) => backend.upload(normals(generator, s), s));
    let output: Storage | null = null;
    const recording = backend.recorder.record(inputs, () => [(output = c.run(backend, inputs))]);
    assert.ok(recording !== null && output !== null, 'recorded');
    // The recorded run's memory, let go by its owners, stays the recording's: storages made now of the same
    // sizes get other memory, and a replay leaves them as they are.
    backend.release(output);
    const size = c.outShape.reduce((a, d) => a * d, 1);
    const sentinels = Array.from({ length: 8 }, () => backend.fill(c.outShape, -3, 'float32'));
    recording.replay(inputs);
    sentinels.forEach((s, i) =>
      assert.deepEqual(
        backend.read(s, c.outShape),
        new Float32Array(size).fill(-3),
        `storage ${i} made after the recording`,
      ),
    );
    recording.release();
  });
}
