import '../../../src/index.js'; // the Node entry: registers the native backend for setBackend('native')
import type {
  Backend,
  Conv2dAttrs,
  Recorder,
  Recording,
  Shape,
  Storage,
  TypedArray,
} from '../../../src/backend/backend.js';
import { nativeUnavailableReason } from '../../../src/backend/native/addon.js';
import { NativeBackend } from '../../../src/backend/native/index.js';
import { ReferenceBackend } from '../../../src/backend/reference/index.js';
import { assertClose } from '../reference/helpers.js';

const reason = nativeUnavailableReason();

/** node:test's `skip` option: false where the addon loads, else a message saying why these tests do not run. */
export const skipNative: string | false =
  reason === null ? false : `native backend not available here (${reason}); its tests are skipped`;

export const reference: Backend = new ReferenceBackend();
let nativeBackend: NativeBackend | null = null;

/** One native backend for every test in a file (they share the addon anyway). */
export function native(): NativeBackend {
  nativeBackend ??= new NativeBackend();
  return nativeBackend;
}

/** 'plain': plain inputs, and every output kept plain; 'blocked': blocked inputs, and outputs left blocked. */
export type Layout = 'plain' | 'blocked';
export const layouts: Layout[] = ['plain', 'blocked'];

export interface Input {
  values: TypedArray;
  shape: Shape;
}

export function input(values: TypedArray, shape: Shape): Input {
  return { values, shape };
}

const identityAttrs: Conv2dAttrs = { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 };

/**
 * Uploads to the native backend; in the blocked layout a 4-D float input goes through a 1×1 identity
 * convolution first, which returns the same values in whatever blocked layout oneDNN picks for the convolution's
 * output, so every kernel is also fed blocked inputs.
 */
export function uploadNative(backend: NativeBackend, x: Input, layout: Layout): Storage {
  const plain = backend.upload(x.values, x.shape);
  if (layout === 'plain' || x.shape.length !== 4 || !(x.values instanceof Float32Array)) return plain;
  const channels = x.shape[1];
  const eye = new Float32Array(channels * channels);
  for (let c = 0; c < channels; c++) eye[c * channels + c] = 1;
  const w = backend.upload(eye, [channels, channels, 1, 1]);
  const blocked = backend.conv2d(plain, x.shape, w, [channels, channels, 1, 1], null, identityAttrs);
  backend.release(plain);
  backend.release(w);
  return blocked;
}

/**
 * Runs `kernel` on the reference and on the native backend with the same inputs and asserts that every output
 * agrees to `tolerance` relative (|a − b| ≤ tolerance · (1 + |b|)). Returns the reference outputs.
 */
export function agree(
  what: string,
  layout: Layout,
  inputs: readonly Input[],
  kernel: (backend: Backend, storages: Storage[]) => Storage | (Storage | null)[],
  tolerance = 1e-4,
): TypedArray[] {
  const run = (backend: Backend, storages: Storage[]): TypedArray[] => {
    const result = kernel(backend, storages);
    const outputs = (Array.isArray(result) ? result : [result]).filter((s): s is Storage => s !== null);
    const values = outputs.map((s) => backend.read(s, [s.size]));
    for (const s of [...outputs, ...storages]) backend.release(s);
    return values;
  };
  const expected = run(
    reference,
    inputs.map((x) => reference.upload(x.values, x.shape)),
  );
  // 'plain' also keeps every native output plain; 'blocked' lets oneDNN's layouts through, as in training.
  native().setBlockedLayouts(layout === 'blocked');
  const actual = run(
    native(),
    inputs.map((x) => uploadNative(native(), x, layout)),
  );
  expected.forEach((e, i) => assertClose(actual[i], e, tolerance, `${what} [${layout}] output ${i}`));
  return expected;
}

/** Counts the recordings made, refused and replayed through the backend's recorder. */
export function spyOn(recorder: Recorder): { recorded: number; refused: number; replays: number } {
  const counts = { recorded: 0, refused: 0, replays: 0 };
  const record = recorder.record;
  recorder.record = (inputs, fn, next) => {
    const recording = record(inputs, fn, next);
    if (recording === null) {
      counts.refused++;
      return null;
    }
    counts.recorded++;
    const counted: Recording = {
      replay: (inputs) => {
        counts.replays++;
        recording.replay(inputs);
      },
      steps: () => recording.steps(),
      release: () => recording.release(),
    };
    return counted;
  };
  return counts;
}
