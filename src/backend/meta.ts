import type {
  ActivationOp,
  Backend,
  BatchNormGradients,
  BatchNormTrainingResult,
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
  Shape,
  Storage,
  TypedArray,
  UnaryOp,
} from './backend.js';
import { BackendError, ShapeError, formatShape } from '../errors.js';
import { LiveStorages } from './live-storages.js';
import { conv2dOutputShape, convSpatialOutput, pool2dOutputShape, sizeOf } from './shapes.js';

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
 * a 15-GMAC VGG-16 "runs" in milliseconds. Used by `summary` to observe each layer's output shape; reading a
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

  upload(values: TypedArray): Storage {
    return this.make(values instanceof Int32Array ? 'int32' : 'float32', values.length);
  }

  read(x: Storage, shape: Shape): TypedArray {
    this.check(x, true);
    throw new BackendError(
      `meta tensors hold no values: cannot read ${formatShape(shape)}; the meta backend computes shapes only`,
    );
  }

  fill(shape: Shape, _value: number, dtype: DType): Storage {
    return this.make(dtype, sizeOf(shape));
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
    this.check(x, true);
    return this.make(dtype, sizeOf(shape));
  }

  reshape(x: Storage, shape: Shape, newShape: Shape): Storage {
    const storage = this.check(x, true);
    if (sizeOf(newShape) !== sizeOf(shape)) {
      throw new ShapeError(`reshape: cannot view ${formatShape(shape)} as ${formatShape(newShape)}`);
    }
    return this.make(storage.dtype, sizeOf(newShape));
  }

  unary(_op: UnaryOp, x: Storage, shape: Shape): Storage {
    this.check(x);
    return this.floats(shape);
  }

  activationBackward(_op: ActivationOp, x: Storage, y: Storage, dy: Storage, shape: Shape): Storage {
    [x, y, dy].forEach((s) => this.check(s));
    return this.floats(shape);
  }

  binary(_op: BinaryOp, a: Storage, _aShape: Shape, b: Storage, _bShape: Shape, outShape: Shape): Storage {
    [a, b].forEach((s) => this.check(s));
    return this.floats(outShape);
  }

  axpby(_alpha: number, x: Storage, _beta: number, y: Storage, shape: Shape): Storage {
    [x, y].forEach((s) => this.check(s));
    return this.floats(shape);
  }

  reduce(_op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage {
    this.check(x);
    return this.floats(shape.map((d, i) => (axes.includes(i) ? 1 : d)));
  }

  matmul(a: Storage, b: Storage, batch: number, m: number, _k: number, n: number): Storage {
    [a, b].forEach((s) => this.check(s));
    return this.make('float32', batch * m * n);
  }

  permute(x: Storage, shape: Shape): Storage {
    const storage = this.check(x, true);
    return this.make(storage.dtype, sizeOf(shape));
  }

  slice(x: Storage, _shape: Shape, _begin: readonly number[], size: readonly number[]): Storage {
    const storage = this.check(x, true);
    return this.make(storage.dtype, sizeOf(size));
  }

  pad(x: Storage, shape: Shape, before: readonly number[], after: readonly number[]): Storage {
    const storage = this.check(x, true);
    return this.make(storage.dtype, sizeOf(shape.map((d, i) => d + before[i] + after[i])));
  }

  concat(xs: readonly Storage[], shapes: readonly Shape[]): Storage {
    const storages = xs.map((x) => this.check(x, true));
    return this.make(
      storages[0]?.dtype ?? 'float32',
      shapes.reduce((n, s) => n + sizeOf(s), 0),
    );
  }

  /** The labels are not checked: they have no values here (the op checks them on a real backend). */
  oneHot(labels: Storage, n: number, numClasses: number): Storage {
    this.check(labels, true);
    return this.make('float32', n * numClasses);
  }

  im2col(x: Storage, xShape: Shape, kernel: readonly [number, number], attrs: Conv2dAttrs): Storage {
    this.check(x);
    const [outH, outW] = convSpatialOutput(xShape, kernel, attrs);
    return this.make('float32', xShape[1] * kernel[0] * kernel[1] * xShape[0] * outH * outW);
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
    [x, w, ...(bias === null ? [] : [bias]), ...(post.add ? [post.add] : [])].forEach((s) => this.check(s));
    return this.floats(conv2dOutputShape(xShape, wShape, attrs));
  }

  conv2dBackwardData(dy: Storage, _dyShape: Shape, w: Storage, _wShape: Shape, xShape: Shape): Storage {
    [dy, w].forEach((s) => this.check(s));
    return this.floats(xShape);
  }

  conv2dBackwardFilter(x: Storage, _xShape: Shape, dy: Storage, _dyShape: Shape, wShape: Shape): Storage {
    [x, dy].forEach((s) => this.check(s));
    return this.floats(wShape);
  }

  pool2d(kind: PoolKind, x: Storage, xShape: Shape, attrs: Pool2dAttrs, withWorkspace = true): PoolResult {
    this.check(x);
    const size = sizeOf(pool2dOutputShape(xShape, attrs));
    // Max pooling's argmax: one int32 index per output, as the reference backend keeps.
    const workspace = kind === 'max' && withWorkspace ? this.make('int32', size) : null;
    return { y: this.make('float32', size), workspace };
  }

  pool2dBackward(
    _kind: PoolKind,
    dy: Storage,
    _dyShape: Shape,
    xShape: Shape,
    _attrs: Pool2dAttrs,
    workspace: Storage | null,
  ): Storage {
    this.check(dy);
    if (workspace !== null) this.check(workspace, true);
    return this.floats(xShape);
  }

  adaptiveAvgPool2d(x: Storage, xShape: Shape, outSize: readonly [number, number]): Storage {
    this.check(x);
    return this.floats([xShape[0], xShape[1], ...outSize]);
  }

  adaptiveAvgPool2dBackward(dy: Storage, _dyShape: Shape, xShape: Shape): Storage {
    this.check(dy);
    return this.floats(xShape);
  }

  lrn(x: Storage, shape: Shape, _attrs: LrnAttrs): Storage {
    this.check(x);
    return this.floats(shape);
  }

  lrnBackward(x: Storage, dy: Storage, shape: Shape): Storage {
    [x, dy].forEach((s) => this.check(s));
    return this.floats(shape);
  }

  batchNormTraining(x: Storage, shape: Shape, gamma: Storage, beta: Storage): BatchNormTrainingResult {
    [x, gamma, beta].forEach((s) => this.check(s));
    return { y: this.floats(shape), mean: this.floats([shape[1]]), variance: this.floats([shape[1]]) };
  }

  batchNormInference(
    x: Storage,
    shape: Shape,
    gamma: Storage,
    beta: Storage,
    mean: Storage,
    variance: Storage,
  ): Storage {
    [x, gamma, beta, mean, variance].forEach((s) => this.check(s));
    return this.floats(shape);
  }

  batchNormBackward(
    x: Storage,
    dy: Storage,
    shape: Shape,
    gamma: Storage,
    mean: Storage,
    variance: Storage,
  ): BatchNormGradients {
    [x, dy, gamma, mean, variance].forEach((s) => this.check(s));
    return { dx: this.floats(shape), dgamma: this.floats([shape[1]]), dbeta: this.floats([shape[1]]) };
  }

  softmax(x: Storage, shape: Shape): Storage {
    this.check(x);
    return this.floats(shape);
  }

  softmaxBackward(y: Storage, dy: Storage, shape: Shape): Storage {
    [y, dy].forEach((s) => this.check(s));
    return this.floats(shape);
  }
}
