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
import { BackendError } from '../../errors.js';
import { sizeOf } from '../shapes.js';
import { activationBackward, binary, unary } from './elementwise.js';
import { concat, pad, permute, reduce, slice } from './movement.js';
import { LiveStorages } from '../live-storages.js';
import { gemm } from './gemm.js';
import { conv2d, conv2dBackwardData, conv2dBackwardFilter, im2col } from './conv.js';
import { adaptiveAvgPool2d, adaptiveAvgPool2dBackward, pool2d, pool2dBackward } from './pool.js';
import { resize2d, resize2dBackward } from './resize.js';
import { batchNormBackward, batchNormInference, batchNormTraining, lrn, lrnBackward } from './norm.js';
import { softmax, softmaxBackward } from './softmax.js';

/** A reference storage is a plain typed array in logical row-major order. */
class ReferenceStorage implements Storage {
  released = false;
  constructor(readonly values: TypedArray) {}
  get dtype(): DType {
    return this.values instanceof Int32Array ? 'int32' : 'float32';
  }
  get size(): number {
    return this.values.length;
  }
}

/** Plain TypeScript kernels, single-threaded: the oracle every other backend is tested against. */
export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  readonly threads = 1;
  private readonly live = new LiveStorages();

  describe() {
    return { name: this.name, threads: this.threads, details: {} };
  }

  private wrap(values: TypedArray): ReferenceStorage {
    const storage = new ReferenceStorage(values);
    this.live.add(storage, values.byteLength);
    return storage;
  }

  private floats(x: Storage): Float32Array {
    const values = this.values(x);
    if (!(values instanceof Float32Array)) throw new BackendError('expected a float32 storage, got int32');
    return values;
  }

  private values(x: Storage): TypedArray {
    if (!(x instanceof ReferenceStorage)) throw new BackendError('storage belongs to another backend');
    if (x.released) throw new BackendError('storage used after it was released');
    return x.values;
  }

  upload(values: TypedArray): Storage {
    return this.wrap(values.slice());
  }

  read(x: Storage): TypedArray {
    return this.values(x).slice();
  }

  fill(shape: Shape, value: number, dtype: DType): Storage {
    const size = sizeOf(shape);
    return this.wrap(
      dtype === 'int32' ? new Int32Array(size).fill(value) : new Float32Array(size).fill(value),
    );
  }

  release(x: Storage): void {
    const storage = x as ReferenceStorage;
    if (storage.released) return;
    storage.released = true;
    this.live.release(storage, storage.values.byteLength);
  }

  memory(): MemoryInfo {
    return this.live.memory();
  }

  cast(x: Storage, _shape: Shape, dtype: DType): Storage {
    const values = this.values(x);
    return this.wrap(dtype === 'int32' ? Int32Array.from(values, Math.trunc) : Float32Array.from(values));
  }

  reshape(x: Storage): Storage {
    return this.wrap(this.values(x).slice());
  }

  unary(op: UnaryOp, x: Storage): Storage {
    return this.wrap(unary(op, this.floats(x)));
  }

  activationBackward(op: ActivationOp, x: Storage, y: Storage, dy: Storage): Storage {
    return this.wrap(activationBackward(op, this.floats(x), this.floats(y), this.floats(dy)));
  }

  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage {
    return this.wrap(binary(op, this.floats(a), aShape, this.floats(b), bShape, outShape));
  }

  axpby(alpha: number, x: Storage, beta: number, y: Storage): Storage {
    const [a, b] = [this.floats(x), this.floats(y)];
    const [fa, fb] = [Math.fround(alpha), Math.fround(beta)];
    // Each product rounded to float32 before the sum, as float32 arithmetic without fused multiply-adds gives.
    return this.wrap(Float32Array.from(a, (v, i) => Math.fround(fa * v) + Math.fround(fb * b[i])));
  }

  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage {
    return this.wrap(reduce(op, this.floats(x), shape, axes));
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
    const av = this.floats(a);
    const bv = this.floats(b);
    const out = new Float32Array(batch * m * n);
    for (let i = 0; i < batch; i++) {
      gemm(av, bv, m, k, n, transposeA, transposeB, out, i * m * k, i * k * n, i * m * n);
    }
    return this.wrap(out);
  }

  permute(x: Storage, shape: Shape, perm: readonly number[]): Storage {
    return this.wrap(permute(this.values(x), shape, perm));
  }

  slice(x: Storage, shape: Shape, begin: readonly number[], size: readonly number[]): Storage {
    return this.wrap(slice(this.values(x), shape, begin, size));
  }

  pad(x: Storage, shape: Shape, before: readonly number[], after: readonly number[], value: number): Storage {
    return this.wrap(pad(this.values(x), shape, before, after, value));
  }

  concat(xs: readonly Storage[], shapes: readonly Shape[], axis: number): Storage {
    return this.wrap(
      concat(
        xs.map((x) => this.values(x)),
        shapes,
        axis,
      ),
    );
  }

  oneHot(labels: Storage, n: number, numClasses: number): Storage {
    const values = this.values(labels);
    const out = new Float32Array(n * numClasses);
    for (let i = 0; i < n; i++) out[i * numClasses + values[i]] = 1;
    return this.wrap(out);
  }

  im2col(x: Storage, xShape: Shape, kernel: readonly [number, number], attrs: Conv2dAttrs): Storage {
    return this.wrap(im2col(this.floats(x), xShape, kernel, attrs));
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
    const biasValues = bias === null ? null : this.floats(bias);
    const y = conv2d(this.floats(x), xShape, this.floats(w), wShape, biasValues, attrs);
    if (post.add) {
      const add = this.floats(post.add);
      if (add.length !== y.length) {
        throw new BackendError(`conv2d: the fused sum has ${add.length} values, the output ${y.length}`);
      }
      for (let i = 0; i < y.length; i++) y[i] += add[i];
    }
    if (post.relu) for (let i = 0; i < y.length; i++) y[i] = y[i] > 0 ? y[i] : 0;
    return this.wrap(y);
  }

  conv2dBackwardData(
    dy: Storage,
    dyShape: Shape,
    w: Storage,
    wShape: Shape,
    xShape: Shape,
    attrs: Conv2dAttrs,
  ): Storage {
    return this.wrap(conv2dBackwardData(this.floats(dy), dyShape, this.floats(w), wShape, xShape, attrs));
  }

  conv2dBackwardFilter(
    x: Storage,
    xShape: Shape,
    dy: Storage,
    dyShape: Shape,
    wShape: Shape,
    attrs: Conv2dAttrs,
  ): Storage {
    return this.wrap(conv2dBackwardFilter(this.floats(x), xShape, this.floats(dy), dyShape, wShape, attrs));
  }

  pool2d(kind: PoolKind, x: Storage, xShape: Shape, attrs: Pool2dAttrs, withWorkspace = true): PoolResult {
    const { y, argmax } = pool2d(kind, this.floats(x), xShape, attrs);
    return { y: this.wrap(y), workspace: argmax === null || !withWorkspace ? null : this.wrap(argmax) };
  }

  pool2dBackward(
    kind: PoolKind,
    dy: Storage,
    dyShape: Shape,
    xShape: Shape,
    attrs: Pool2dAttrs,
    workspace: Storage | null,
  ): Storage {
    const argmax = workspace === null ? null : (this.values(workspace) as Int32Array);
    return this.wrap(pool2dBackward(kind, this.floats(dy), dyShape, xShape, attrs, argmax));
  }

  adaptiveAvgPool2d(x: Storage, xShape: Shape, outSize: readonly [number, number]): Storage {
    return this.wrap(adaptiveAvgPool2d(this.floats(x), xShape, outSize));
  }

  adaptiveAvgPool2dBackward(dy: Storage, dyShape: Shape, xShape: Shape): Storage {
    return this.wrap(adaptiveAvgPool2dBackward(this.floats(dy), dyShape, xShape));
  }

  resize2d(x: Storage, xShape: Shape, outSize: readonly [number, number], mode: ResizeMode): Storage {
    return this.wrap(resize2d(this.floats(x), xShape, outSize, mode));
  }

  resize2dBackward(dy: Storage, dyShape: Shape, xShape: Shape, mode: ResizeMode): Storage {
    return this.wrap(resize2dBackward(this.floats(dy), dyShape, xShape, mode));
  }

  lrn(x: Storage, shape: Shape, attrs: LrnAttrs): Storage {
    return this.wrap(lrn(this.floats(x), shape, attrs));
  }

  lrnBackward(x: Storage, dy: Storage, shape: Shape, attrs: LrnAttrs): Storage {
    return this.wrap(lrnBackward(this.floats(x), this.floats(dy), shape, attrs));
  }

  batchNormTraining(
    x: Storage,
    shape: Shape,
    gamma: Storage,
    beta: Storage,
    eps: number,
    relu = false,
  ): BatchNormTrainingResult {
    const result = batchNormTraining(this.floats(x), shape, this.floats(gamma), this.floats(beta), eps);
    const wrapped = {
      y: this.wrap(result.y),
      mean: this.wrap(result.mean),
      variance: this.wrap(result.variance),
    };
    return reluAfterBatchNorm(this, wrapped, shape, relu);
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
    const [g, b, m, v] = [gamma, beta, mean, variance].map((s) => this.floats(s));
    return this.wrap(batchNormInference(this.floats(x), shape, g, b, m, v, eps));
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
    const [g, m, v] = [gamma, mean, variance].map((s) => this.floats(s));
    return backwardThroughRelu(this, dy, shape, relu, (grad) => {
      const result = batchNormBackward(this.floats(x), this.floats(grad), shape, g, m, v, eps);
      return { dx: this.wrap(result.dx), dgamma: this.wrap(result.dgamma), dbeta: this.wrap(result.dbeta) };
    });
  }

  softmax(x: Storage, shape: Shape, axis: number, log: boolean): Storage {
    return this.wrap(softmax(this.floats(x), shape, axis, log));
  }

  softmaxBackward(y: Storage, dy: Storage, shape: Shape, axis: number, log: boolean): Storage {
    return this.wrap(softmaxBackward(this.floats(y), this.floats(dy), shape, axis, log));
  }
}
