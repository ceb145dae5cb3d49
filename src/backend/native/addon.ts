import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { BackendError } from '../../errors.js';
import type { LrnAttrs, PoolKind, ResizeMode, Shape, TypedArray } from '../backend.js';

declare const nativeHandle: unique symbol;
/** A native storage handle: an N-API external owning oneDNN memory. Opaque to JavaScript. */
export type Handle = { readonly [nativeHandle]: true };

declare const recordingHandle: unique symbol;
/** A recording of primitive calls (native/src/recording.cc). Opaque to JavaScript. */
export type RecordingHandle = { readonly [recordingHandle]: true };

/** 0 is float32, 1 int32. */
export type DTypeCode = 0 | 1;

export interface LibraryInfo {
  /** oneDNN's version, e.g. 2.6.3. */
  version: string;
  /** The instruction set oneDNN's kernels use (dnnl_get_effective_cpu_isa). */
  isa: string;
  /** OpenMP threads oneDNN runs on. */
  threads: number;
  /** Whether outputs may stay in oneDNN's blocked layouts between layers. */
  blockedLayouts: boolean;
}

type Dims = Shape;

/** A convolution's shapes and attributes as the addon reads them (convolution.cc's Geometry). */
export interface ConvGeometry {
  x: Dims;
  w: Dims;
  y: Dims;
  stride: readonly number[];
  /** [top, bottom, left, right]. */
  padding: readonly number[];
  dilation: readonly number[];
  groups: number;
}

/** ConvPostOps with storages as handles. */
export interface ConvPostOpsByHandle {
  /** Added to the output before the activation (a residual sum); the output's shape. */
  add: Handle | null;
  relu: boolean;
  /** The caller releases `add` after the call: its buffer may become the output's. */
  addInPlace: boolean;
  /** The weights are being trained: no reordered copy of them is kept for later calls. */
  trainedWeights: boolean;
}

/** A pooling's shapes and window as the addon reads them (pooling_norm.cc's PoolGeometry). */
export interface PoolGeometry {
  kind: PoolKind;
  x: Dims;
  y: Dims;
  kernel: readonly number[];
  stride: readonly number[];
  /** [top, left] and [bottom, right]: oneDNN's padding, grown after so that ceil mode's last window fits. */
  paddingBefore: readonly number[];
  paddingAfter: readonly number[];
  countIncludePad: boolean;
}

/** A resampling's shapes and mode as the addon reads them (resampling.cc). */
export interface ResizeGeometry {
  x: Dims;
  y: Dims;
  mode: ResizeMode;
}

export interface MatmulAttrs {
  batch: number;
  m: number;
  k: number;
  n: number;
  transposeA: boolean;
  transposeB: boolean;
}

/** The functions native/src/*.cc export; argument order follows each C++ function's comment. */
export interface Addon {
  upload(values: TypedArray, dims: Dims, dtype: DTypeCode): Handle;
  read(x: Handle, dims: Dims, into: TypedArray): void;
  fill(dims: Dims, value: number, dtype: DTypeCode): Handle;
  release(x: Handle): void;
  memory(): [
    storages: number,
    bytes: number,
    collected: number,
    pooledBytes: number,
    heldBytes: number,
    peakBytes: number,
  ];
  reshape(x: Handle, dims: Dims, newDims: Dims): Handle;
  cast(x: Handle, dims: Dims, dtype: DTypeCode): Handle;
  info(): LibraryInfo;
  setThreads(threads: number): number;
  setBlockedLayouts(blocked: boolean): void;
  setBatchInvariantGradients(on: boolean): void;
  setWinograd(on: boolean): void;
  isBlocked(x: Handle): boolean;

  startRecording(inputs: Handle[]): void;
  finishRecording(outputs: Handle[], next?: (Handle | null)[]): RecordingHandle | null;
  replay(recording: RecordingHandle, inputs: Handle[]): void;
  releaseRecording(recording: RecordingHandle): void;
  recordingSteps(recording: RecordingHandle): number;

  unary(op: string, x: Handle, dims: Dims): Handle;
  activationBackward(op: string, x: Handle, y: Handle, dy: Handle, dims: Dims): Handle;
  binary(op: string, a: Handle, aDims: Dims, b: Handle, bDims: Dims, outDims: Dims): Handle;
  reduce(op: string, x: Handle, dims: Dims, outDims: Dims): Handle;
  axpby(alpha: number, x: Handle, beta: number, y: Handle, dims: Dims): Handle;
  softmax(x: Handle, dims: Dims, axis: number, log: boolean): Handle;
  softmaxBackward(y: Handle, dy: Handle, dims: Dims, axis: number, log: boolean): Handle;

  matmul(a: Handle, b: Handle, attrs: MatmulAttrs): Handle;
  permute(x: Handle, dims: Dims, perm: readonly number[]): Handle;
  slice(x: Handle, dims: Dims, begin: readonly number[], size: readonly number[]): Handle;
  pad(x: Handle, dims: Dims, before: readonly number[], after: readonly number[], value: number): Handle;
  concat(xs: Handle[], dims: Dims[], axis: number): Handle;
  oneHot(labels: Handle, n: number, numClasses: number): Handle;

  conv2d(
    x: Handle,
    w: Handle,
    bias: Handle | null,
    geometry: ConvGeometry,
    post: ConvPostOpsByHandle,
  ): Handle;
  conv2dBackwardData(dy: Handle, w: Handle, geometry: ConvGeometry, trainedWeights: boolean): Handle;
  conv2dBackwardFilter(x: Handle, dy: Handle, geometry: ConvGeometry): Handle;

  pool2d(
    x: Handle,
    geometry: PoolGeometry,
    withWorkspace: boolean,
  ): [y: Handle, workspace: Handle | null, workspaceElements: number];
  pool2dBackward(dy: Handle, geometry: PoolGeometry, workspace: Handle | null): Handle;
  lrn(x: Handle, dims: Dims, attrs: LrnAttrs): Handle;
  resize2d(x: Handle, geometry: ResizeGeometry): Handle;
  resize2dBackward(dy: Handle, geometry: ResizeGeometry): Handle;
  lrnBackward(x: Handle, dy: Handle, dims: Dims, attrs: LrnAttrs): Handle;
  batchNormTraining(
    x: Handle,
    dims: Dims,
    gamma: Handle,
    beta: Handle,
    eps: number,
    relu: boolean,
  ): [y: Handle, mean: Handle, variance: Handle, reluMask: Handle | null, maskElements: number];
  batchNormInference(
    x: Handle,
    dims: Dims,
    gamma: Handle,
    beta: Handle,
    mean: Handle,
    variance: Handle,
    eps: number,
  ): Handle;
  batchNormBackward(
    x: Handle,
    dy: Handle,
    dims: Dims,
    gamma: Handle,
    mean: Handle,
    variance: Handle,
    eps: number,
    reluMask: Handle | null,
  ): [dx: Handle, dgamma: Handle, dbeta: Handle];
}

/**
 * Where node-gyp puts the addon: build/Release at the repository root, four levels above dist/src/backend/native/.
 * CONVNETS_NATIVE_ADDON names another file (tests use it to see the fallback).
 */
export const addonPath =
  process.env.CONVNETS_NATIVE_ADDON ??
  fileURLToPath(new URL('../../../../build/Release/convnets_native.node', import.meta.url));

let loaded: { addon: Addon } | { reason: string } | undefined;

/** How many times an idle OpenMP thread polls for work before it sleeps, unless the environment says. */
export const SPIN_COUNT = 3000;

/** Errors from C++ become BackendErrors naming the kernel. */
function withErrors(raw: Record<string, (...args: unknown[]) => unknown>): Addon {
  const wrapped: Record<string, (...args: unknown[]) => unknown> = {};
  for (const [name, fn] of Object.entries(raw)) {
    wrapped[name] = (...args: unknown[]) => {
      try {
        return fn(...args);
      } catch (error) {
        throw new BackendError(`native ${name}: ${(error as Error).message}`);
      }
    };
  }
  return wrapped as unknown as Addon;
}

function load(): { addon: Addon } | { reason: string } {
  // Its caches and memory pool belong to one thread; workers load data, not kernels (DESIGN.md decision 10).
  if (!isMainThread) return { reason: 'the oneDNN addon runs on the main thread only' };
  if (!existsSync(addonPath)) return { reason: 'the oneDNN addon is not built; run make setup' };
  // libgomp reads how its threads wait between kernels once, as the addon loads. Its default spins 300,000 times
  // first, so a second busy process on the cores cost training two thirds of its speed; spinning 3,000 times
  // keeps the speed alone and loses less under load (bench/under-load.mjs). A user's own setting wins.
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined)
    process.env.GOMP_SPINCOUNT = String(SPIN_COUNT);
  try {
    const raw = createRequire(import.meta.url)(addonPath) as Record<string, (...args: unknown[]) => unknown>;
    return { addon: withErrors(raw) };
  } catch (error) {
    return { reason: `the oneDNN addon does not load: ${(error as Error).message.split('\n')[0]}` };
  }
}

/** The addon, loaded once; throws a BackendError saying why when it is not available. */
export function loadAddon(): Addon {
  loaded ??= load();
  if ('reason' in loaded) throw new BackendError(loaded.reason);
  return loaded.addon;
}

/** Why the native backend cannot run here, or null when it can. */
export function nativeUnavailableReason(): string | null {
  loaded ??= load();
  return 'reason' in loaded ? loaded.reason : null;
}
