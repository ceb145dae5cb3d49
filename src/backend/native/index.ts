import { availableParallelism } from 'node:os';
import type {
  ActivationOp,
  Backend,
  BatchNormGradients,
  BatchNormTrainingResult,
  FusedRelu,
  BinaryOp,
  Conv2dAttrs,
  ConvPostOps,
  DType,
  LrnAttrs,
  MemoryInfo,
  Pool2dAttrs,
  PoolKind,
  PoolResult,
  Recorder,
  ReduceOp,
  ResizeMode,
  Shape,
  Storage,
  TypedArray,
  UnaryOp,
} from '../backend.js';
import { BackendError, ShapeError, ValueError, formatShape } from '../../errors.js';
import { ReferenceBackend } from '../reference/index.js';
import {
  checkConvOutputGradient,
  checkPoolOutputGradient,
  conv2dOutputShape,
  convSpatialOutput,
  pool2dOutputShape,
  sizeOf,
} from '../shapes.js';
import {
  type Addon,
  type ConvGeometry,
  type Handle,
  type LibraryInfo,
  type PoolGeometry,
  loadAddon,
} from './addon.js';

/** A storage whose values live in memory the addon owns (possibly in a oneDNN blocked layout). */
class NativeStorage implements Storage {
  released = false;
  constructor(
    readonly handle: Handle,
    readonly dtype: DType,
    readonly size: number,
  ) {}
}

/** CONVNETS_THREADS, or every core this process may use (DESIGN.md decision 10). */
function threadCount(): number {
  const raw = process.env.CONVNETS_THREADS;
  if (raw === undefined || raw === '') return availableParallelism();
  const threads = Number(raw);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new ValueError(`CONVNETS_THREADS=${raw}: expected a positive integer`);
  }
  return threads;
}

/** CONVNETS_NATIVE_LAYOUT=plain keeps every output in plain NCHW; the default lets oneDNN's blocked layouts flow. */
function blockedLayoutsFromEnvironment(): boolean {
  const raw = process.env.CONVNETS_NATIVE_LAYOUT ?? 'blocked';
  if (raw !== 'blocked' && raw !== 'plain') {
    throw new ValueError(`CONVNETS_NATIVE_LAYOUT=${raw}: expected 'blocked' or 'plain'`);
  }
  return raw === 'blocked';
}

/** CONVNETS_BATCH_INVARIANT=1 sums convolution weight gradients image by image (setBatchInvariantGradients). */
function batchInvariantFromEnvironment(): boolean {
  const raw = process.env.CONVNETS_BATCH_INVARIANT ?? '0';
  if (raw !== '0' && raw !== '1') throw new ValueError(`CONVNETS_BATCH_INVARIANT=${raw}: expected 0 or 1`);
  return raw === '1';
}

/** CONVNETS_WINOGRAD=0 runs every convolution by the direct algorithm (setWinograd). */
function winogradFromEnvironment(): boolean {
  const raw = process.env.CONVNETS_WINOGRAD ?? '1';
  if (raw !== '0' && raw !== '1') throw new ValueError(`CONVNETS_WINOGRAD=${raw}: expected 0 or 1`);
  return raw === '1';
}

const dtypeCode = (dtype: DType) => (dtype === 'int32' ? 1 : 0);

function convGeometry(xShape: Shape, wShape: Shape, yShape: Shape, attrs: Conv2dAttrs): ConvGeometry {
  const { stride, padding, dilation, groups } = attrs;
  return { x: xShape, w: wShape, y: yShape, stride, padding, dilation, groups };
}

/** A pooling for oneDNN: the after-padding grows so ceil mode's last window fits (PyTorch clips it). */
function poolGeometry(kind: PoolKind, xShape: Shape, yShape: Shape, attrs: Pool2dAttrs): PoolGeometry {
  const [top, bottom, left, right] = attrs.padding;
  const needed = (i: number, before: number) =>
    (yShape[2 + i] - 1) * attrs.stride[i] + attrs.kernel[i] - xShape[2 + i] - before;
  return {
    kind,
    x: xShape,
    y: yShape,
    kernel: attrs.kernel,
    stride: attrs.stride,
    paddingBefore: [top, left],
    paddingAfter: [Math.max(bottom, needed(0, top)), Math.max(right, needed(1, left))],
    countIncludePad: attrs.countIncludePad,
  };
}

/**
 * oneDNN's average pooling with padding counted divides by the whole kernel; PyTorch clips a ceil-mode window
 * that overhangs the padded input first. Those cases, and nothing else, go to the reference kernel.
 */
function poolOnOneDnn(kind: PoolKind, attrs: Pool2dAttrs, after: readonly number[]): boolean {
  const [, bottom, , right] = attrs.padding;
  return kind === 'max' || !attrs.countIncludePad || (after[0] === bottom && after[1] === right);
}

/**
 * oneDNN's nearest resampling reads round((out + 0.5) · in/out − 0.5), PyTorch's floor(out · in/out): the same source
 * pixel when each output axis is a whole multiple of the input's. Bilinear agrees everywhere.
 */
function resizeOnOneDnn(mode: ResizeMode, xShape: Shape, yShape: Shape): boolean {
  return mode === 'bilinear' || (yShape[2] % xShape[2] === 0 && yShape[3] % xShape[3] === 0);
}

/** Adaptive average pooling is plain pooling when the output divides the input evenly (global pooling always). */
function adaptiveKernel(xShape: Shape, outSize: readonly [number, number]): [number, number] | null {
  const [, , height, width] = xShape;
  if (height % outSize[0] !== 0 || width % outSize[1] !== 0) return null;
  return [height / outSize[0], width / outSize[1]];
}

/**
 * Kernels on oneDNN (Debian's libdnnl, the 2.x API) through the N-API addon in native/. Outputs of convolution,
 * pooling, batch norm, LRN and elementwise ops may stay in oneDNN's blocked layouts; read() and the kernels that
 * need plain values reorder. Kernels oneDNN lacks go to the reference backend, each in one line marked
 * "reference:" (listed in docs/native-backend.md).
 */
export class NativeBackend implements Backend {
  readonly name = 'native';
  readonly threads: number;
  private readonly addon: Addon;
  private readonly reference: Backend = new ReferenceBackend();
  private winograd = true;

  constructor() {
    this.addon = loadAddon();
    this.threads = this.addon.setThreads(threadCount());
    this.addon.setBlockedLayouts(blockedLayoutsFromEnvironment());
    this.addon.setBatchInvariantGradients(batchInvariantFromEnvironment());
    this.setWinograd(winogradFromEnvironment());
  }

  readonly recorder: Recorder = {
    record: (inputs, fn, next) => {
      const addon = this.addon;
      const handles = (storages: readonly Storage[]) => storages.map((s) => this.handle(s));
      addon.startRecording(handles(inputs));
      let outputs: Handle[];
      try {
        outputs = handles(fn());
      } catch (error) {
        const unfinished = addon.finishRecording([]);
        if (unfinished !== null) addon.releaseRecording(unfinished);
        throw error;
      }
      const nextHandles = next?.().map((s) => (s === null ? null : this.handle(s)));
      const recording = addon.finishRecording(outputs, nextHandles);
      if (recording === null) return null;
      return {
        replay: (replayed) => addon.replay(recording, handles(replayed)),
        steps: () => addon.recordingSteps(recording),
        release: () => addon.releaseRecording(recording),
      };
    },
  };

  describe() {
    const library = this.library();
    const layout = library.blockedLayouts ? 'blocked (oneDNN formats between layers)' : 'plain NCHW';
    return {
      name: this.name,
      threads: this.threads,
      details: {
        oneDNN: library.version,
        isa: library.isa,
        layout,
        conv: this.winograd ? "Winograd's algorithm for 3×3 where faster, else direct" : 'direct only',
      },
    };
  }

  /** oneDNN's version, instruction set, threads and layout mode. */
  library(): LibraryInfo {
    return this.addon.info();
  }

  /** Lets outputs stay in oneDNN's blocked layouts (the default), or keeps every output plain. */
  setBlockedLayouts(blocked: boolean): void {
    this.addon.setBlockedLayouts(blocked);
  }

  /**
   * Sums each convolution's weight gradient over the batch image by image, in float64 and in the batch's order,
   * instead of in oneDNN's one float32 running sum over the whole batch, whose rounding depends on which images
   * share it. Then a batch of 2B and the average of two batches of B (two data-parallel processes) give the same
   * gradient to about one float32 rounding, not 1e-5 of its largest value. Off by default: it runs oneDNN once per
   * image, on one thread (docs/distributed.md has the cost).
   */
  setBatchInvariantGradients(on: boolean): void {
    this.addon.setBatchInvariantGradients(on);
  }

  /**
   * Whether 3×3 convolutions compiled from now on may run by Winograd's algorithm where it is faster (32 channels
   * and more, stride 1, enough 4×4 output tiles): 1.6-2.9x faster on AVX-512, with results about 2e-6 of the
   * largest output away from the direct algorithm's. On by default; off, every convolution runs directly.
   */
  setWinograd(on: boolean): void {
    this.addon.setWinograd(on);
    this.winograd = on;
  }

  /** Whether a storage is held in one of oneDNN's blocked layouts (tests check that layouts flow). */
  isBlocked(x: Storage): boolean {
    return this.addon.isBlocked(this.handle(x));
  }

  private handle(x: Storage): Handle {
    if (!(x instanceof NativeStorage)) throw new BackendError('storage belongs to another backend');
    if (x.released) throw new BackendError('storage used after it was released');
    return x.handle;
  }

  private wrap(handle: Handle, shape: Shape, dtype: DType = 'float32'): NativeStorage {
    return new NativeStorage(handle, dtype, sizeOf(shape));
  }

  /**
   * Runs a kernel on the reference backend: the inputs are copied out of native memory, the result copied back.
   * Every use is one line marked "reference:".
   */
  private viaReference(
    inputs: readonly (readonly [Storage, Shape])[],
    outShape: Shape,
    kernel: (reference: Backend, inputs: Storage[]) => Storage,
  ): Storage {
    const copies = inputs.map(([x, shape]) => this.reference.upload(this.read(x, shape), shape));
    const result = kernel(this.reference, copies);
    const values = this.reference.read(result, outShape);
    for (const copy of [...copies, result]) this.reference.release(copy);
    return this.upload(values, outShape);
  }

  upload(values: TypedArray, shape: Shape): Storage {
    const dtype: DType = values instanceof Int32Array ? 'int32' : 'float32';
    return this.wrap(this.addon.upload(values, shape, dtypeCode(dtype)), shape, dtype);
  }

  read(x: Storage, shape: Shape): TypedArray {
    const out = x.dtype === 'int32' ? new Int32Array(x.size) : new Float32Array(x.size);
    this.addon.read(this.handle(x), shape, out);
    return out;
  }

  fill(shape: Shape, value: number, dtype: DType): Storage {
    return this.wrap(this.addon.fill(shape, value, dtypeCode(dtype)), shape, dtype);
  }

  release(x: Storage): void {
    if (!(x instanceof NativeStorage)) throw new BackendError('storage belongs to another backend');
    if (x.released) return;
    x.released = true;
    this.addon.release(x.handle);
  }

  /** Live storages and bytes of every native backend in this process (they share the addon's memory). */
  memory(): MemoryInfo {
    const [storages, bytes, collected, pooledBytes, heldBytes, peakBytes] = this.addon.memory();
    return { storages, bytes, collected, pooledBytes, heldBytes, peakBytes };
  }

  cast(x: Storage, shape: Shape, dtype: DType): Storage {
    return this.wrap(this.addon.cast(this.handle(x), shape, dtypeCode(dtype)), shape, dtype);
  }

  reshape(x: Storage, shape: Shape, newShape: Shape): Storage {
    return this.wrap(this.addon.reshape(this.handle(x), shape, newShape), newShape, x.dtype);
  }

  unary(op: UnaryOp, x: Storage, shape: Shape): Storage {
    // reference: oneDNN has no sign, and its log is an approximation (log(1) = −1.4e-6; ONNX's test wants 0)
    if (op === 'sign' || op === 'log')
      return this.viaReference([[x, shape]], shape, (r, [v]) => r.unary(op, v, shape));
    return this.wrap(this.addon.unary(op, this.handle(x), shape), shape);
  }

  activationBackward(op: ActivationOp, x: Storage, y: Storage, dy: Storage, shape: Shape): Storage {
    const [hx, hy, hdy] = [x, y, dy].map((s) => this.handle(s));
    return this.wrap(this.addon.activationBackward(op, hx, hy, hdy, shape), shape);
  }

  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    // reference: no binary pow in oneDNN 2.6
    if (op === 'pow')
      return this.viaReference(
        [
          [a, aShape],
          [b, bShape],
        ],
        outShape,
        (r, [u, v]) => r.binary(op, u, aShape, v, bShape, outShape),
      );
    return this.wrap(
      this.addon.binary(op, this.handle(a), aShape, this.handle(b), bShape, outShape),
      outShape,
    );
  }

  axpby(alpha: number, x: Storage, beta: number, y: Storage, shape: Shape): Storage {
    return this.wrap(this.addon.axpby(alpha, this.handle(x), beta, this.handle(y), shape), shape);
  }

  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage {
    const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    return this.wrap(this.addon.reduce(op, this.handle(x), shape, outShape), outShape);
  }

  matmul(
    a: Storage,
    b: Storage,
    batch: number,
    m: number,
    k: number,
    n: number,
    transposeA: boolean,
    transposeB: boolean,
  ): Storage {
    const attrs = { batch, m, k, n, transposeA, transposeB };
    return this.wrap(this.addon.matmul(this.handle(a), this.handle(b), attrs), [batch, m, n]);
  }

  permute(x: Storage, shape: Shape, perm: readonly number[]): Storage {
    return this.wrap(this.addon.permute(this.handle(x), shape, perm), shape, x.dtype);
  }

  slice(x: Storage, shape: Shape, begin: readonly number[], size: readonly number[]): Storage {
    return this.wrap(this.addon.slice(this.handle(x), shape, begin, size), size, x.dtype);
  }

  pad(x: Storage, shape: Shape, before: readonly number[], after: readonly number[], value: number): Storage {
    const outShape = shape.map((d, i) => d + before[i] + after[i]);
    return this.wrap(this.addon.pad(this.handle(x), shape, before, after, value), outShape, x.dtype);
  }

  concat(xs: readonly Storage[], shapes: readonly Shape[], axis: number): Storage {
    const outShape = [...shapes[0]];
    outShape[axis] = shapes.reduce((sum, s) => sum + s[axis], 0);
    const handles = xs.map((x) => this.handle(x));
    return this.wrap(this.addon.concat(handles, [...shapes], axis), outShape, xs[0].dtype);
  }

  oneHot(labels: Storage, n: number, numClasses: number): Storage {
    return this.wrap(this.addon.oneHot(this.handle(labels), n, numClasses), [n, numClasses]);
  }

  im2col(x: Storage, xShape: Shape, kernel: readonly [number, number], attrs: Conv2dAttrs): Storage {
    const [outH, outW] = convSpatialOutput(xShape, kernel, attrs);
    const colsShape = [xShape[1] * kernel[0] * kernel[1], xShape[0] * outH * outW];
    // reference: oneDNN convolves without unrolling
    return this.viaReference([[x, xShape]], colsShape, (r, [v]) => r.im2col(v, xShape, kernel, attrs));
  }

  conv2d(
    x: Storage,
    xShape: Shape,
    w: Storage,
    wShape: Shape,
    bias: Storage | null,
    attrs: Conv2dAttrs,
    post: ConvPostOps = {},
  ): Storage {
    const yShape = conv2dOutputShape(xShape, wShape, attrs);
    const y = this.addon.conv2d(
      this.handle(x),
      this.handle(w),
      bias === null ? null : this.handle(bias),
      convGeometry(xShape, wShape, yShape, attrs),
      {
        add: post.add ? this.handle(post.add) : null,
        relu: post.relu ?? false,
        addInPlace: post.addInPlace ?? false,
        trainedWeights: post.trainedWeights ?? false,
      },
    );
    return this.wrap(y, yShape);
  }

  conv2dBackwardData(
    dy: Storage,
    dyShape: Shape,
    w: Storage,
    wShape: Shape,
    xShape: Shape,
    attrs: Conv2dAttrs,
    trainedWeights = false,
  ): Storage {
    checkConvOutputGradient('conv2dBackwardData', xShape, wShape, dyShape, attrs);
    const geometry = convGeometry(xShape, wShape, dyShape, attrs);
    const dx = this.addon.conv2dBackwardData(this.handle(dy), this.handle(w), geometry, trainedWeights);
    return this.wrap(dx, xShape);
  }

  conv2dBackwardFilter(
    x: Storage,
    xShape: Shape,
    dy: Storage,
    dyShape: Shape,
    wShape: Shape,
    attrs: Conv2dAttrs,
  ): Storage {
    checkConvOutputGradient('conv2dBackwardFilter', xShape, wShape, dyShape, attrs);
    const geometry = convGeometry(xShape, wShape, dyShape, attrs);
    return this.wrap(this.addon.conv2dBackwardFilter(this.handle(x), this.handle(dy), geometry), wShape);
  }

  pool2d(kind: PoolKind, x: Storage, xShape: Shape, attrs: Pool2dAttrs, withWorkspace = true): PoolResult {
    const yShape = pool2dOutputShape(xShape, attrs);
    const geometry = poolGeometry(kind, xShape, yShape, attrs);
    // reference: PyTorch's ceil-mode divisor
    if (!poolOnOneDnn(kind, attrs, geometry.paddingAfter))
      return {
        y: this.viaReference([[x, xShape]], yShape, (r, [v]) => r.pool2d(kind, v, xShape, attrs).y),
        workspace: null,
      };
    const [y, workspace, workspaceSize] = this.addon.pool2d(this.handle(x), geometry, withWorkspace);
    return {
      y: this.wrap(y, yShape),
      workspace: workspace === null ? null : this.wrap(workspace, [workspaceSize], 'int32'),
    };
  }

  pool2dBackward(
    kind: PoolKind,
    dy: Storage,
    dyShape: Shape,
    xShape: Shape,
    attrs: Pool2dAttrs,
    workspace: Storage | null,
  ): Storage {
    const yShape = pool2dOutputShape(xShape, attrs);
    checkPoolOutputGradient(dyShape, yShape, xShape);
    const geometry = poolGeometry(kind, xShape, yShape, attrs);
    // reference: PyTorch's ceil-mode divisor
    if (!poolOnOneDnn(kind, attrs, geometry.paddingAfter))
      return this.viaReference([[dy, dyShape]], xShape, (r, [v]) =>
        r.pool2dBackward(kind, v, dyShape, xShape, attrs, null),
      );
    if (kind === 'max' && workspace === null) {
      throw new ValueError('pool2dBackward: max pooling needs the workspace its forward returned');
    }
    const handle = workspace === null ? null : this.handle(workspace);
    return this.wrap(this.addon.pool2dBackward(this.handle(dy), geometry, handle), xShape);
  }

  adaptiveAvgPool2d(x: Storage, xShape: Shape, outSize: readonly [number, number]): Storage {
    const kernel = xShape.length === 4 ? adaptiveKernel(xShape, outSize) : null;
    const yShape = [xShape[0], xShape[1], outSize[0], outSize[1]];
    // reference: uneven bins
    if (kernel === null)
      return this.viaReference([[x, xShape]], yShape, (r, [v]) => r.adaptiveAvgPool2d(v, xShape, outSize));
    return this.pool2d('avg', x, xShape, this.adaptiveAttrs(kernel), false).y;
  }

  adaptiveAvgPool2dBackward(dy: Storage, dyShape: Shape, xShape: Shape): Storage {
    const kernel =
      xShape.length === 4 && dyShape.length === 4 ? adaptiveKernel(xShape, [dyShape[2], dyShape[3]]) : null;
    // reference: uneven bins
    if (kernel === null)
      return this.viaReference([[dy, dyShape]], xShape, (r, [v]) =>
        r.adaptiveAvgPool2dBackward(v, dyShape, xShape),
      );
    return this.pool2dBackward('avg', dy, dyShape, xShape, this.adaptiveAttrs(kernel), null);
  }

  resize2d(x: Storage, xShape: Shape, outSize: readonly [number, number], mode: ResizeMode): Storage {
    const yShape = [xShape[0], xShape[1], ...outSize];
    // reference: oneDNN's nearest rounds half-pixel positions where PyTorch floors, except at whole factors
    if (!resizeOnOneDnn(mode, xShape, yShape))
      return this.viaReference([[x, xShape]], yShape, (r, [v]) => r.resize2d(v, xShape, outSize, mode));
    return this.wrap(this.addon.resize2d(this.handle(x), { x: xShape, y: yShape, mode }), yShape);
  }

  resize2dBackward(dy: Storage, dyShape: Shape, xShape: Shape, mode: ResizeMode): Storage {
    // reference: as resize2d
    if (!resizeOnOneDnn(mode, xShape, dyShape))
      return this.viaReference([[dy, dyShape]], xShape, (r, [v]) =>
        r.resize2dBackward(v, dyShape, xShape, mode),
      );
    return this.wrap(this.addon.resize2dBackward(this.handle(dy), { x: xShape, y: dyShape, mode }), xShape);
  }

  private adaptiveAttrs(kernel: [number, number]): Pool2dAttrs {
    return { kernel, stride: kernel, padding: [0, 0, 0, 0], ceilMode: false, countIncludePad: false };
  }

  lrn(x: Storage, shape: Shape, attrs: LrnAttrs): Storage {
    // reference: oneDNN's even window differs from PyTorch's
    if (attrs.size % 2 === 0)
      return this.viaReference([[x, shape]], shape, (r, [v]) => r.lrn(v, shape, attrs));
    return this.wrap(this.addon.lrn(this.handle(x), shape, attrs), shape);
  }

  lrnBackward(x: Storage, dy: Storage, shape: Shape, attrs: LrnAttrs): Storage {
    // reference: oneDNN's even window differs from PyTorch's
    if (attrs.size % 2 === 0)
      return this.viaReference(
        [
          [x, shape],
          [dy, shape],
        ],
        shape,
        (r, [u, v]) => r.lrnBackward(u, v, shape, attrs),
      );
    return this.wrap(this.addon.lrnBackward(this.handle(x), this.handle(dy), shape, attrs), shape);
  }

  batchNormTraining(
    x: Storage,
    shape: Shape,
    gamma: Storage,
    beta: Storage,
    eps: number,
    relu = false,
  ): BatchNormTrainingResult {
    const [y, mean, variance, mask, maskElements] = this.addon.batchNormTraining(
      this.handle(x),
      shape,
      this.handle(gamma),
      this.handle(beta),
      eps,
      relu,
    );
    const channels = [shape[1]];
    return {
      y: this.wrap(y, shape),
      mean: this.wrap(mean, channels),
      variance: this.wrap(variance, channels),
      reluMask: mask === null ? null : this.wrap(mask, [maskElements], 'int32'),
    };
  }

  batchNormInference(
    x: Storage,
    shape: Shape,
    gamma: Storage,
    beta: Storage,
    mean: Storage,
    variance: Storage,
    eps: number,
  ): Storage {
    const [hg, hb, hm, hv] = [gamma, beta, mean, variance].map((s) => this.handle(s));
    return this.wrap(this.addon.batchNormInference(this.handle(x), shape, hg, hb, hm, hv, eps), shape);
  }

  batchNormBackward(
    x: Storage,
    dy: Storage,
    shape: Shape,
    gamma: Storage,
    mean: Storage,
    variance: Storage,
    eps: number,
    relu: FusedRelu | null = null,
  ): BatchNormGradients {
    if (relu !== null && !('mask' in relu))
      throw new ValueError('batchNormBackward: a fused ReLU needs the mask its training call returned');
    const [hg, hm, hv] = [gamma, mean, variance].map((s) => this.handle(s));
    const [dx, dgamma, dbeta] = this.addon.batchNormBackward(
      this.handle(x),
      this.handle(dy),
      shape,
      hg,
      hm,
      hv,
      eps,
      relu === null ? null : this.handle(relu.mask),
    );
    const channels = [shape[1]];
    return {
      dx: this.wrap(dx, shape),
      dgamma: this.wrap(dgamma, channels),
      dbeta: this.wrap(dbeta, channels),
    };
  }

  softmax(x: Storage, shape: Shape, axis: number, log: boolean): Storage {
    return this.wrap(
      this.addon.softmax(this.handle(x), shape, this.axis('softmax', shape, axis), log),
      shape,
    );
  }

  softmaxBackward(y: Storage, dy: Storage, shape: Shape, axis: number, log: boolean): Storage {
    const a = this.axis('softmaxBackward', shape, axis);
    return this.wrap(this.addon.softmaxBackward(this.handle(y), this.handle(dy), shape, a, log), shape);
  }

  /** A non-negative axis, as the reference kernel's error would name it. */
  private axis(op: string, shape: Shape, axis: number): number {
    const rank = shape.length;
    if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
      throw new ShapeError(`${op}: axis ${axis} is out of range for shape ${formatShape(shape)}`);
    }
    return axis < 0 ? axis + rank : axis;
  }
}
