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
  ReduceOp,
  ResizeMode,
  Shape,
  Storage,
  TypedArray,
  UnaryOp,
} from '../backend.js';
import { backwardThroughRelu, reluAfterBatchNorm } from '../fused-relu.js';
import { BackendError, ShapeError, ValueError, formatShape } from '../../errors.js';
import { LiveStorages } from '../live-storages.js';
import { ReferenceBackend } from '../reference/index.js';
import {
  checkConvOutputGradient,
  checkPoolOutputGradient,
  conv2dOutputShape,
  pool2dOutputShape,
  sizeOf,
} from '../shapes.js';
import { around, broadcastGeometry, channelLayout, evenBins, reduceGeometry } from './geometry.js';
import { type KernelExports, activationCodes, binaryCodes, reduceCodes, unaryCodes } from './exports.js';
import { Heap } from './heap.js';
import { type ReferenceKernel, referenceKernels } from './reference-kernels.js';
import { type WasmKernels, type WasmModule, webAssembly } from './webassembly.js';
import { CONTROL_BYTES, type ParallelKernel, STACK_BYTES, type ThreadStarter, ThreadPool } from './pool.js';

/**
 * How a backend runs threads: the threaded kernels (convnets-threads.wasm, or convnets-relaxed-threads.wasm where
 * `relaxedSimd`), how many threads, how to start one.
 */
export interface WasmThreading {
  module: WasmModule;
  relaxedSimd: boolean;
  threads: number;
  startThread: ThreadStarter;
}

/** The threaded build's memory, in 64 KiB pages: its initial size (wasm/build.mjs) and the most it may grow to. */
const INITIAL_PAGES = 32;
const MAXIMUM_PAGES = 32768;

/** A block of the backend's WebAssembly memory holding values in logical row-major (NCHW) order. */
class WasmStorage implements Storage {
  released = false;
  constructor(
    /** The backend instance whose memory holds it: offsets mean nothing in another's. */
    readonly owner: WasmBackend,
    readonly offset: number,
    readonly dtype: DType,
    readonly size: number,
  ) {}
  get bytes(): number {
    return this.size * 4;
  }
}

/** The most dimensions the binary and reduce kernels walk, after merging neighbours that they treat alike. */
const MAX_BROADCAST_RANK = 16;
/** Room for the largest geometry a kernel reads: a binary op's 3 × 16 int32s. */
const ARGUMENT_BYTES = 3 * MAX_BROADCAST_RANK * 4;

/**
 * Kernels in WebAssembly with 128-bit SIMD (wasm/src/*.c, built by clang's wasm32 target), on one thread, or on a
 * pool of threads over shared memory (pool.ts) when given `threading` for more than one. Each instance owns one
 * WebAssembly.Memory and allocates from it (heap.ts); storages are released by release() or, unreleased, when the
 * garbage collector finds them. The kernels in referenceKernels run on the reference backend.
 */
export class WasmBackend implements Backend {
  readonly name = 'wasm';
  readonly threads: number;
  /** Whether the kernels running are the relaxed-SIMD build (fused multiply-adds), not baseline SIMD128. */
  readonly relaxedSimd: boolean;
  private readonly pool: ThreadPool | null = null;
  private readonly kernels: KernelExports;
  private readonly heap: Heap;
  private readonly live = new LiveStorages();
  private readonly reclaim = new FinalizationRegistry<[number, number]>(([offset, bytes]) =>
    this.heap.free(offset, bytes),
  );
  private readonly reference: Backend = new ReferenceBackend();
  private readonly scratch: number;
  private readonly argumentBlock: number;
  /** Kernel calls handed to the reference backend since this instance started (tests read it). */
  referenceCalls = 0;

  constructor(kernels: WasmKernels, threading: WasmThreading | null = null) {
    const api = webAssembly();
    if (api === null) throw new BackendError('wasm backend: this JavaScript runtime has no WebAssembly');
    this.threads = threading === null ? 1 : threading.threads;
    this.relaxedSimd = this.threads > 1 ? threading!.relaxedSimd : kernels.relaxedSimd;
    if (this.threads > 1) {
      const memory = new api.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true });
      const exports = new api.Instance(threading!.module, { env: { memory } }).exports;
      this.kernels = { ...exports, memory } as unknown as KernelExports;
    } else this.kernels = new api.Instance(kernels.module, {}).exports as unknown as KernelExports;
    this.heap = new Heap(this.kernels.memory, this.kernels.__heap_base.value);
    this.scratch = this.heap.allocate(this.threads * this.kernels.gemm_scratch_floats() * 4);
    this.argumentBlock = this.heap.allocate(ARGUMENT_BYTES);
    if (this.threads > 1) {
      const control = this.heap.allocate(CONTROL_BYTES);
      const kernels = this.kernels as unknown as Record<string, unknown>;
      this.pool = new ThreadPool(kernels, this.kernels.memory, control, this.scratch, this.threads);
      const stacks = Array.from(
        { length: this.threads - 1 },
        () => this.heap.allocate(STACK_BYTES) + STACK_BYTES,
      );
      this.pool.start(threading!.module, stacks, threading!.startThread);
    }
  }

  /** The kernel parts the pool's workers have run (0 on one thread): whether the pool does share the work. */
  workerParts(): number {
    return this.pool?.workerParts() ?? 0;
  }

  /**
   * Runs one of the kernels that split into parts: across the pool, or whole on this thread. `images`, for kernels
   * split by image, lets the pool cut finer than one part per thread, so that a thread the system runs late leaves
   * fewer parts for the others to wait on.
   */
  private parallel(kernel: ParallelKernel, args: readonly number[], images = 0): void {
    if (this.pool !== null)
      this.pool.run(kernel, args, Math.max(this.threads, Math.min(images, 4 * this.threads)));
    else (this.kernels[kernel] as (...values: number[]) => void)(...args, this.scratch, 0, 0, 1);
  }

  describe() {
    const onReference = Object.entries(referenceKernels).map(([kernel, when]) =>
      when.startsWith('always') ? kernel : `${kernel} (${when.split(' (')[0]})`,
    );
    const isa = this.relaxedSimd ? 'WebAssembly relaxed SIMD, FMA' : 'WebAssembly SIMD128';
    return {
      name: this.name,
      threads: this.threads,
      details: {
        kernels:
          this.threads === 1
            ? `${isa} (clang wasm32), one thread`
            : `${isa} (clang wasm32), ${this.threads} threads over shared memory`,
        memory: `${(this.reservedBytes() / 2 ** 20).toFixed(1)} MiB of WebAssembly.Memory`,
        fallback: `reference backend for ${onReference.join(', ')}`,
      },
    };
  }

  // Storage

  private allocate(shape: Shape, dtype: DType = 'float32'): WasmStorage {
    const size = sizeOf(shape);
    const storage = new WasmStorage(this, this.heap.allocate(size * 4), dtype, size);
    this.live.add(storage, storage.bytes);
    this.reclaim.register(storage, [storage.offset, storage.bytes], storage);
    return storage;
  }

  /** The offset of a live storage of this backend holding `size` values (a kernel reads exactly that many). */
  private at(x: Storage, size: number, op: string): number {
    if (!(x instanceof WasmStorage) || x.owner !== this) {
      throw new BackendError(`${op}: storage belongs to another backend`);
    }
    if (x.released) throw new BackendError(`${op}: storage used after it was released`);
    if (x.size !== size)
      throw new ShapeError(`${op}: a storage of ${x.size} values where ${size} were expected`);
    return x.offset;
  }

  private floats(x: Storage, shape: Shape, op: string): number {
    if (x.dtype !== 'float32') throw new BackendError(`${op}: expected a float32 storage, got ${x.dtype}`);
    return this.at(x, sizeOf(shape), op);
  }

  /** A view of a storage's values, valid until the next allocation (growing the memory detaches its buffer). */
  private view(x: WasmStorage): TypedArray {
    const buffer = this.kernels.memory.buffer;
    return x.dtype === 'int32'
      ? new Int32Array(buffer, x.offset, x.size)
      : new Float32Array(buffer, x.offset, x.size);
  }

  /** Writes int32 arguments into the argument block and returns its offset. */
  private argumentsOf(values: readonly number[]): number {
    new Int32Array(this.kernels.memory.buffer, this.argumentBlock, values.length).set(values);
    return this.argumentBlock;
  }

  /** A temporary block for a kernel's working values, freed by the caller. */
  private withTemporary<T>(bytes: number, fn: (offset: number) => T): T {
    const offset = this.heap.allocate(bytes);
    try {
      return fn(offset);
    } finally {
      this.heap.free(offset, bytes);
    }
  }

  upload(values: TypedArray, shape: Shape): Storage {
    const dtype: DType = values instanceof Int32Array ? 'int32' : 'float32';
    if (values.length !== sizeOf(shape)) {
      throw new ShapeError(`upload: ${values.length} values for shape ${formatShape(shape)}`);
    }
    const storage = this.allocate(shape, dtype);
    this.view(storage).set(values);
    return storage;
  }

  read(x: Storage, shape: Shape): TypedArray {
    this.at(x, sizeOf(shape), 'read');
    return this.view(x as WasmStorage).slice();
  }

  fill(shape: Shape, value: number, dtype: DType): Storage {
    const storage = this.allocate(shape, dtype);
    this.view(storage).fill(value);
    return storage;
  }

  release(x: Storage): void {
    if (!(x instanceof WasmStorage) || x.owner !== this) {
      throw new BackendError('release: storage belongs to another backend');
    }
    if (x.released) return;
    x.released = true;
    this.reclaim.unregister(x);
    this.heap.free(x.offset, x.bytes);
    this.live.release(x, x.bytes);
  }

  /** Bytes of this instance's WebAssembly.Memory: live blocks, free blocks kept for reuse, stack and scratch. */
  reservedBytes(): number {
    return this.heap.reserved();
  }

  /** Live storages and their bytes (as allocated, before rounding to a size class). */
  memory(): MemoryInfo {
    return this.live.memory();
  }

  cast(x: Storage, shape: Shape, dtype: DType): Storage {
    this.at(x, sizeOf(shape), 'cast');
    const out = this.allocate(shape, dtype);
    const source = this.view(x as WasmStorage);
    const target = this.view(out);
    if (dtype === 'int32') for (let i = 0; i < source.length; i++) target[i] = Math.trunc(source[i]);
    else target.set(source);
    return out;
  }

  reshape(x: Storage, shape: Shape, newShape: Shape): Storage {
    this.at(x, sizeOf(shape), 'reshape');
    if (sizeOf(newShape) !== sizeOf(shape)) {
      throw new ShapeError(`reshape: ${formatShape(shape)} has not the size of ${formatShape(newShape)}`);
    }
    const out = this.allocate(newShape, x.dtype);
    this.view(out).set(this.view(x as WasmStorage));
    return out;
  }

  /** Runs one kernel of referenceKernels on the reference backend, copying storages across both ways. */
  private onReference<K extends ReferenceKernel>(kernel: K, args: Parameters<Backend[K]>): Storage {
    this.referenceCalls++;
    const copies: Storage[] = [];
    const across = (value: unknown): unknown => {
      if (Array.isArray(value) && value.some((v) => v instanceof WasmStorage))
        return value.map((v) => across(v));
      if (!(value instanceof WasmStorage)) return value;
      const copy = this.reference.upload(this.read(value, [value.size]), [value.size]);
      copies.push(copy);
      return copy;
    };
    const run = this.reference[kernel] as (...values: unknown[]) => Storage;
    const result = run.apply(this.reference, args.map(across));
    const values = this.reference.read(result, [result.size]);
    for (const copy of [...copies, result]) this.reference.release(copy);
    return this.upload(values, [values.length]);
  }

  // Elementwise

  unary(op: UnaryOp, x: Storage, shape: Shape): Storage {
    // reference: log (referenceKernels)
    if (op === 'log') return this.onReference('unary', [op, x, shape]);
    const input = this.floats(x, shape, 'unary');
    const y = this.allocate(shape);
    this.kernels.unary(unaryCodes[op], input, y.offset, y.size);
    return y;
  }

  activationBackward(op: ActivationOp, x: Storage, y: Storage, dy: Storage, shape: Shape): Storage {
    const [px, py, pdy] = [x, y, dy].map((s) => this.floats(s, shape, 'activationBackward'));
    const dx = this.allocate(shape);
    this.kernels.activation_backward(activationCodes[op], px, py, pdy, dx.offset, dx.size);
    return dx;
  }

  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    const geometry = broadcastGeometry(aShape, bShape, outShape);
    // reference: pow, and broadcasting over more than 16 dimensions (referenceKernels)
    if (op === 'pow' || geometry.shape.length > MAX_BROADCAST_RANK)
      return this.onReference('binary', [op, a, aShape, b, bShape, outShape]);
    const [pa, pb] = [this.floats(a, aShape, op), this.floats(b, bShape, op)];
    const out = this.allocate(outShape);
    if (out.size === 0) return out;
    const { shape, aStrides, bStrides } = geometry;
    const offsets = this.argumentsOf([...shape, ...aStrides, ...bStrides]);
    this.kernels.binary(binaryCodes[op], pa, pb, out.offset, shape.length, offsets);
    return out;
  }

  axpby(alpha: number, x: Storage, beta: number, y: Storage, shape: Shape): Storage {
    const [px, py] = [this.floats(x, shape, 'axpby'), this.floats(y, shape, 'axpby')];
    const out = this.allocate(shape);
    this.kernels.axpby(alpha, px, beta, py, out.offset, out.size);
    return out;
  }

  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage {
    const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const geometry = reduceGeometry(shape, axes);
    // reference: an empty input, and more than 16 dimensions alternating reduced and kept (referenceKernels)
    if (sizeOf(shape) === 0 || geometry.shape.length > MAX_BROADCAST_RANK)
      return this.onReference('reduce', [op, x, shape, axes]);
    const px = this.floats(x, shape, 'reduce');
    const out = this.allocate(outShape);
    return this.withTemporary(out.size * 8, (sums) => {
      const offsets = this.argumentsOf([...geometry.shape, ...geometry.outStrides]);
      this.kernels.reduce(reduceCodes[op], px, out.offset, sums, out.size, geometry.shape.length, offsets);
      return out;
    });
  }

  // Linear algebra and data movement

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
    const pa = this.floats(a, [batch, m, k], 'matmul');
    const pb = this.floats(b, [batch, k, n], 'matmul');
    const c = this.allocate([batch, m, n]);
    this.parallel('matmul', [pa, pb, c.offset, batch, m, k, n, +transposeA, +transposeB]);
    return c;
  }

  permute(x: Storage, shape: Shape, perm: readonly number[]): Storage {
    return this.onReference('permute', [x, shape, perm]);
  }

  slice(x: Storage, shape: Shape, begin: readonly number[], size: readonly number[]): Storage {
    return this.onReference('slice', [x, shape, begin, size]);
  }

  pad(x: Storage, shape: Shape, before: readonly number[], after: readonly number[], value: number): Storage {
    return this.onReference('pad', [x, shape, before, after, value]);
  }

  concat(xs: readonly Storage[], shapes: readonly Shape[], axis: number): Storage {
    return this.onReference('concat', [xs, shapes, axis]);
  }

  oneHot(labels: Storage, n: number, numClasses: number): Storage {
    return this.onReference('oneHot', [labels, n, numClasses]);
  }

  // Convolution

  im2col(x: Storage, xShape: Shape, kernel: readonly [number, number], attrs: Conv2dAttrs): Storage {
    return this.onReference('im2col', [x, xShape, kernel, attrs]);
  }

  /** The 16 int32s of wasm/src/gemm.c's Conv. */
  private convGeometry(xShape: Shape, wShape: Shape, yShape: Shape, attrs: Conv2dAttrs): number {
    const [batch, channels, height, width] = xShape;
    const [outChannels, , kernelH, kernelW] = wShape;
    const [top, , left] = attrs.padding;
    return this.argumentsOf([
      batch,
      channels,
      height,
      width,
      outChannels,
      kernelH,
      kernelW,
      yShape[2],
      yShape[3],
      attrs.stride[0],
      attrs.stride[1],
      top,
      left,
      attrs.dilation[0],
      attrs.dilation[1],
      attrs.groups,
    ]);
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
    const px = this.floats(x, xShape, 'conv2d');
    const pw = this.floats(w, wShape, 'conv2d');
    const pbias = bias === null ? 0 : this.floats(bias, [wShape[0]], 'conv2d bias');
    const padd = post.add ? this.floats(post.add, yShape, 'conv2d fused sum') : 0;
    const y = this.allocate(yShape);
    const geometry = this.convGeometry(xShape, wShape, yShape, attrs);
    this.parallel('conv2d', [geometry, px, pw, pbias, padd, +(post.relu ?? false), y.offset], xShape[0]);
    return y;
  }

  conv2dBackwardData(
    dy: Storage,
    dyShape: Shape,
    w: Storage,
    wShape: Shape,
    xShape: Shape,
    attrs: Conv2dAttrs,
  ): Storage {
    checkConvOutputGradient('conv2dBackwardData', xShape, wShape, dyShape, attrs);
    const pdy = this.floats(dy, dyShape, 'conv2dBackwardData');
    const pw = this.floats(w, wShape, 'conv2dBackwardData');
    const dx = this.allocate(xShape);
    const depth = wShape[1] * wShape[2] * wShape[3];
    // One block of columns per thread.
    return this.withTemporary(this.threads * depth * dyShape[2] * dyShape[3] * 4, (columns) => {
      const geometry = this.convGeometry(xShape, wShape, dyShape, attrs);
      this.parallel('conv2d_backward_data', [geometry, pdy, pw, dx.offset, columns], xShape[0]);
      return dx;
    });
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
    const px = this.floats(x, xShape, 'conv2dBackwardFilter');
    const pdy = this.floats(dy, dyShape, 'conv2dBackwardFilter');
    const dw = this.allocate(wShape);
    if (xShape[0] === 0) {
      this.view(dw).fill(0);
      return dw;
    }
    return this.withTemporary(dw.bytes, (transposed) => {
      const geometry = this.convGeometry(xShape, wShape, dyShape, attrs);
      this.parallel('conv2d_backward_filter', [geometry, px, pdy, dw.offset, transposed]);
      return dw;
    });
  }

  // Pooling and normalisation

  /** The 14 int32s of wasm/src/pool.c's Pool. */
  private poolGeometry(xShape: Shape, yShape: Shape, attrs: Pool2dAttrs): number {
    const [batch, channels, height, width] = xShape;
    return this.argumentsOf([
      batch * channels,
      height,
      width,
      yShape[2],
      yShape[3],
      ...attrs.kernel,
      ...attrs.stride,
      ...attrs.padding,
      +attrs.countIncludePad,
    ]);
  }

  pool2d(kind: PoolKind, x: Storage, xShape: Shape, attrs: Pool2dAttrs, withWorkspace = true): PoolResult {
    const yShape = pool2dOutputShape(xShape, attrs);
    const px = this.floats(x, xShape, 'pool2d');
    const y = this.allocate(yShape);
    const argmax = kind === 'max' && withWorkspace ? this.allocate(yShape, 'int32') : null;
    const geometry = this.poolGeometry(xShape, yShape, attrs);
    if (kind === 'max') this.kernels.max_pool2d(geometry, px, y.offset, argmax?.offset ?? 0);
    else this.kernels.avg_pool2d(geometry, px, y.offset);
    return { y, workspace: argmax };
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
    const pdy = this.floats(dy, dyShape, 'pool2dBackward');
    if (kind === 'max' && workspace === null) {
      throw new ValueError('pool2dBackward: max pooling needs the workspace its forward returned');
    }
    const pargmax = workspace === null ? 0 : this.at(workspace, sizeOf(yShape), 'pool2dBackward workspace');
    const dx = this.allocate(xShape);
    const geometry = this.poolGeometry(xShape, yShape, attrs);
    if (kind === 'max') this.kernels.max_pool2d_backward(geometry, pdy, pargmax, dx.offset);
    else this.kernels.avg_pool2d_backward(geometry, pdy, dx.offset);
    return dx;
  }

  adaptiveAvgPool2d(x: Storage, xShape: Shape, outSize: readonly [number, number]): Storage {
    const attrs = evenBins(xShape, outSize);
    // reference: uneven bins (referenceKernels)
    if (attrs === null) return this.onReference('adaptiveAvgPool2d', [x, xShape, outSize]);
    return this.pool2d('avg', x, xShape, attrs, false).y;
  }

  adaptiveAvgPool2dBackward(dy: Storage, dyShape: Shape, xShape: Shape): Storage {
    const attrs = dyShape.length === 4 ? evenBins(xShape, [dyShape[2], dyShape[3]]) : null;
    // reference: uneven bins (referenceKernels)
    if (attrs === null) return this.onReference('adaptiveAvgPool2dBackward', [dy, dyShape, xShape]);
    return this.pool2dBackward('avg', dy, dyShape, xShape, attrs, null);
  }

  resize2d(x: Storage, xShape: Shape, outSize: readonly [number, number], mode: ResizeMode): Storage {
    return this.onReference('resize2d', [x, xShape, outSize, mode]);
  }

  resize2dBackward(dy: Storage, dyShape: Shape, xShape: Shape, mode: ResizeMode): Storage {
    return this.onReference('resize2dBackward', [dy, dyShape, xShape, mode]);
  }

  lrn(x: Storage, shape: Shape, attrs: LrnAttrs): Storage {
    return this.onReference('lrn', [x, shape, attrs]);
  }

  lrnBackward(x: Storage, dy: Storage, shape: Shape, attrs: LrnAttrs): Storage {
    return this.onReference('lrnBackward', [x, dy, shape, attrs]);
  }

  batchNormTraining(
    x: Storage,
    shape: Shape,
    gamma: Storage,
    beta: Storage,
    eps: number,
    relu = false,
  ): BatchNormTrainingResult {
    const { batch, channels, inner } = channelLayout('batchNormTraining', shape);
    const op = 'batchNormTraining';
    const [px, pg, pb] = [
      this.floats(x, shape, op),
      this.perChannel(gamma, channels, op),
      this.perChannel(beta, channels, op),
    ];
    const [y, mean, variance] = [this.allocate(shape), this.allocate([channels]), this.allocate([channels])];
    this.kernels.batch_norm_training(
      px,
      batch,
      channels,
      inner,
      pg,
      pb,
      eps,
      y.offset,
      mean.offset,
      variance.offset,
    );
    return reluAfterBatchNorm(this, { y, mean, variance }, shape, relu);
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
    const op = 'batchNormInference';
    const { batch, channels, inner } = channelLayout(op, shape);
    const px = this.floats(x, shape, op);
    const [pg, pb, pm, pv] = [gamma, beta, mean, variance].map((s) => this.perChannel(s, channels, op));
    const y = this.allocate(shape);
    this.kernels.batch_norm_inference(px, batch, channels, inner, pg, pb, pm, pv, eps, y.offset);
    return y;
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
    const op = 'batchNormBackward';
    const { batch, channels, inner } = channelLayout(op, shape);
    return backwardThroughRelu(this, dy, shape, relu, (grad) => {
      const [px, pdy] = [this.floats(x, shape, op), this.floats(grad, shape, op)];
      const [pg, pm, pv] = [gamma, mean, variance].map((s) => this.perChannel(s, channels, op));
      const [dx, dgamma, dbeta] = [
        this.allocate(shape),
        this.allocate([channels]),
        this.allocate([channels]),
      ];
      this.kernels.batch_norm_backward(
        px,
        pdy,
        batch,
        channels,
        inner,
        pg,
        pm,
        pv,
        eps,
        dx.offset,
        dgamma.offset,
        dbeta.offset,
      );
      return { dx, dgamma, dbeta };
    });
  }

  private perChannel(x: Storage, channels: number, op: string): number {
    if (x.size !== channels) {
      throw new ShapeError(`${op}: a per-channel parameter of ${x.size} values for ${channels} channels`);
    }
    return this.floats(x, [channels], op);
  }

  // Softmax

  softmax(x: Storage, shape: Shape, axis: number, log: boolean): Storage {
    const { outer, length, inner } = around('softmax', shape, axis);
    const px = this.floats(x, shape, 'softmax');
    const y = this.allocate(shape);
    // float64 sums and float32 maxima, one per inner position.
    return this.withTemporary(inner * 12, (sums) => {
      this.kernels.softmax(px, y.offset, outer, length, inner, +log, sums, sums + inner * 8);
      return y;
    });
  }

  softmaxBackward(y: Storage, dy: Storage, shape: Shape, axis: number, log: boolean): Storage {
    const { outer, length, inner } = around('softmaxBackward', shape, axis);
    const [py, pdy] = [this.floats(y, shape, 'softmaxBackward'), this.floats(dy, shape, 'softmaxBackward')];
    const dx = this.allocate(shape);
    return this.withTemporary(inner * 8, (sums) => {
      this.kernels.softmax_backward(py, pdy, dx.offset, outer, length, inner, +log, sums);
      return dx;
    });
  }
}
