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
} from './backend.js';
import { BackendError, ShapeError, formatShape } from '../errors.js';
import { LiveStorages } from './live-storages.js';
import { outputShape, type Kernel, type KernelArgs } from './kernels.js';
import { sizeOf } from './shapes.js';

/** Both dtypes take four bytes an element, as they would on a real backend. */
const BYTES_PER_ELEMENT = 4;

/** A storage that knows its dtype and size and holds nothing else. */
class MetaStorage implements Storage {
  released = false;
  constructor(
    readonly dtype: DType,
    readonly size: number,
  ) {}
}

/**
 * Shapes without values: every kernel returns a storage of the right dtype and size and computes nothing, so
 * a 15-GMAC VGG-16 "runs" in milliseconds. The sizes come from the kernels' shape rules (kernels.ts). Used by `summary` to observe each layer's output shape; reading a
 * value is an error. Its storages count in memory() as if they held their bytes.
 */
export class MetaBackend implements Backend {
  readonly name = 'meta';
  readonly threads = 1;
  readonly shapeOnly = true;
  private readonly live = new LiveStorages();

  describe() {
    return { name: this.name, threads: this.threads, details: {} };
  }

  private make(dtype: DType, size: number): MetaStorage {
    const storage = new MetaStorage(dtype, size);
    this.live.add(storage, size * BYTES_PER_ELEMENT);
    return storage;
  }

  private floats(shape: Shape): MetaStorage {
    return this.make('float32', sizeOf(shape));
  }

  /** Checks ownership and liveness as the reference backend does, and float32 unless `allowInt`. */
  private check(x: Storage, allowInt = false): MetaStorage {
    if (!(x instanceof MetaStorage)) throw new BackendError('storage belongs to another backend');
    if (x.released) throw new BackendError('storage used after it was released');
    if (!allowInt && x.dtype !== 'float32') throw new BackendError('expected a float32 storage, got int32');
    return x;
  }

  /**
   * A call's output: the storages it reads checked (float32 unless `intReads`), and a storage of `dtype` made at the
   * size of the shape the kernel's rule gives.
   */
  private output<K extends Kernel>(
    kernel: K,
    args: KernelArgs<K>,
    dtype: DType = 'float32',
    intReads = false,
  ): MetaStorage {
    const shape = outputShape({ kernel, args }, (storage) => this.check(storage, intReads));
    return this.make(dtype, sizeOf(shape));
  }

  /** The dtype of a storage that a kernel keeping its input's dtype reads (cast, reshape, permute...). */
  private dtypeOf(x: Storage): DType {
    return this.check(x, true).dtype;
  }

  upload(values: TypedArray, shape: Shape): Storage {
    return this.output('upload', [values, shape], values instanceof Int32Array ? 'int32' : 'float32');
  }

  read(x: Storage, shape: Shape): TypedArray {
    this.check(x, true);
    throw new BackendError(
      `meta tensors hold no values: cannot read ${formatShape(shape)}; the meta backend computes shapes only`,
    );
  }

  fill(shape: Shape, value: number, dtype: DType): Storage {
    return this.output('fill', [shape, value, dtype], dtype);
  }

  release(x: Storage): void {
    const storage = x as MetaStorage;
    if (storage.released) return;
    storage.released = true;
    this.live.release(storage, storage.size * BYTES_PER_ELEMENT);
  }

  memory(): MemoryInfo {
    return this.live.memory();
  }

  cast(x: Storage, shape: Shape, dtype: DType): Storage {
    return this.output('cast', [x, shape, dtype], dtype, true);
  }

  reshape(x: Storage, shape: Shape, newShape: Shape): Storage {
    if (sizeOf(newShape) !== sizeOf(shape)) {
      this.check(x, true);
      throw new ShapeError(`reshape: cannot view ${formatShape(shape)} as ${formatShape(newShape)}`);
    }
    return this.output('reshape', [x, shape, newShape], this.dtypeOf(x), true);
  }

  unary(op: UnaryOp, x: Storage, shape: Shape): Storage {
    return this.output('unary', [op, x, shape]);
  }

  activationBackward(op: ActivationOp, x: Storage, y: Storage, dy: Storage, shape: Shape): Storage {
    return this.output('activationBackward', [op, x, y, dy, shape]);
  }

  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    return this.output('binary', [op, a, aShape, b, bShape, outShape]);
  }

  axpby(alpha: number, x: Storage, beta: number, y: Storage, shape: Shape): Storage {
    return this.output('axpby', [alpha, x, beta, y, shape]);
  }

  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage {
    return this.output('reduce', [op, x, shape, axes]);
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
    return this.output('matmul', [a, b, batch, m, k, n, transposeA, transposeB]);
  }

  permute(x: Storage, shape: Shape, perm: readonly number[]): Storage {
    return this.output('permute', [x, shape, perm], this.dtypeOf(x), true);
  }

  slice(x: Storage, shape: Shape, begin: readonly number[], size: readonly number[]): Storage {
    return this.output('slice', [x, shape, begin, size], this.dtypeOf(x), true);
  }

  pad(x: Storage, shape: Shape, before: readonly number[], after: readonly number[], value: number): Storage {
    return this.output('pad', [x, shape, before, after, value], this.dtypeOf(x), true);
  }

  concat(xs: readonly Storage[], shapes: readonly Shape[], axis: number): Storage {
    const dtype = xs.length > 0 ? this.dtypeOf(xs[0]) : 'float32';
    return this.output('concat', [xs, shapes, axis], dtype, true);
  }

  /** The labels are not checked: they have no values here (the op checks them on a real backend). */
  oneHot(labels: Storage, n: number, numClasses: number): Storage {
    return this.output('oneHot', [labels, n, numClasses], 'float32', true);
  }

  im2col(x: Storage, xShape: Shape, kernel: readonly [number, number], attrs: Conv2dAttrs): Storage {
    return this.output('im2col', [x, xShape, kernel, attrs]);
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
    return this.output('conv2d', [x, xShape, w, wShape, bias, attrs, post]);
  }

  conv2dBackwardData(
    dy: Storage,
    dyShape: Shape,
    w: Storage,
    wShape: Shape,
    xShape: Shape,
    attrs: Conv2dAttrs,
  ): Storage {
    return this.output('conv2dBackwardData', [dy, dyShape, w, wShape, xShape, attrs]);
  }

  conv2dBackwardFilter(
    x: Storage,
    xShape: Shape,
    dy: Storage,
    dyShape: Shape,
    wShape: Shape,
    attrs: Conv2dAttrs,
  ): Storage {
    return this.output('conv2dBackwardFilter', [x, xShape, dy, dyShape, wShape, attrs]);
  }

  pool2d(kind: PoolKind, x: Storage, xShape: Shape, attrs: Pool2dAttrs, withWorkspace = true): PoolResult {
    const y = this.output('pool2d', [kind, x, xShape, attrs, withWorkspace]);
    // Max pooling's argmax: one int32 index per output, as the reference backend keeps.
    const workspace = kind === 'max' && withWorkspace ? this.make('int32', y.size) : null;
    return { y, workspace };
  }

  pool2dBackward(
    kind: PoolKind,
    dy: Storage,
    dyShape: Shape,
    xShape: Shape,
    attrs: Pool2dAttrs,
    workspace: Storage | null,
  ): Storage {
    // The workspace holds int32 indices; the gradient is float32.
    this.check(dy);
    return this.output('pool2dBackward', [kind, dy, dyShape, xShape, attrs, workspace], 'float32', true);
  }

  adaptiveAvgPool2d(x: Storage, xShape: Shape, outSize: readonly [number, number]): Storage {
    return this.output('adaptiveAvgPool2d', [x, xShape, outSize]);
  }

  adaptiveAvgPool2dBackward(dy: Storage, dyShape: Shape, xShape: Shape): Storage {
    return this.output('adaptiveAvgPool2dBackward', [dy, dyShape, xShape]);
  }

  resize2d(x: Storage, xShape: Shape, outSize: readonly [number, number], mode: ResizeMode): Storage {
    return this.output('resize2d', [x, xShape, outSize, mode]);
  }

  resize2dBackward(dy: Storage, dyShape: Shape, xShape: Shape, mode: ResizeMode): Storage {
    return this.output('resize2dBackward', [dy, dyShape, xShape, mode]);
  }

  lrn(x: Storage, shape: Shape, attrs: LrnAttrs): Storage {
    return this.output('lrn', [x, shape, attrs]);
  }

  lrnBackward(x: Storage, dy: Storage, shape: Shape, attrs: LrnAttrs): Storage {
    return this.output('lrnBackward', [x, dy, shape, attrs]);
  }

  batchNormTraining(
    x: Storage,
    shape: Shape,
    gamma: Storage,
    beta: Storage,
    eps: number,
    relu = false,
  ): BatchNormTrainingResult {
    const y = this.output('batchNormTraining', [x, shape, gamma, beta, eps, relu]);
    return { y, mean: this.floats([shape[1]]), variance: this.floats([shape[1]]), reluMask: null };
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
    return this.output('batchNormInference', [x, shape, gamma, beta, mean, variance, eps]);
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
    const dx = this.output('batchNormBackward', [x, dy, shape, gamma, mean, variance, eps, relu]);
    return { dx, dgamma: this.floats([shape[1]]), dbeta: this.floats([shape[1]]) };
  }

  softmax(x: Storage, shape: Shape, axis: number, log: boolean): Storage {
    return this.output('softmax', [x, shape, axis, log]);
  }

  softmaxBackward(y: Storage, dy: Storage, shape: Shape, axis: number, log: boolean): Storage {
    return this.output('softmaxBackward', [y, dy, shape, axis, log]);
  }
}
