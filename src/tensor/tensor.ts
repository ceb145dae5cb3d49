import type { Backend, DType, Shape, Storage, TypedArray } from '../backend/backend.js';
import { sizeOf } from '../backend/shapes.js';
import { BackendError, ValueError, formatShape } from '../errors.js';
import { runBackward } from './autograd.js';
import { keep, track } from './scope.js';
import { checkOptions } from '../options.js';

/** How a tensor was computed: the op, its inputs, and the rule giving each input's gradient from the output's. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Gradients of the inputs from the output's gradient. */
  readonly backward: (dy: Tensor) => readonly (Tensor | null)[];
  /** Tensors the rule reads besides its inputs and output (max pooling's argmax), kept with the graph. */
  readonly saved: readonly Tensor[];
  /**
   * The inputs, and the output, whose values the rule reads: the others it needs only the shape of (an addition's
   * operands, the input of a ReLU, which reads its output), so a forward may release them once consumed.
   */
  readonly reads: readonly Tensor[];
}

/**
 * An n-dimensional array of float32 or int32 values held by a backend. Logical layout is row-major
 * (NCHW for images); the backend may store it otherwise.
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** Set on tensors an op made while gradients were recorded; null on leaves. */
  node: GradNode | null = null;
  /** Null once disposed. A tensor the garbage collector reclaims leaves its storage to the backend's own reclaiming. */
  private held: Storage | null;

  constructor(
    storage: Storage,
    shape: Shape,
    readonly dtype: DType,
    readonly backend: Backend,
  ) {
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    this.held = storage;
    track(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.held === null;
  }

  /** The backend's handle; throws once the tensor is disposed. */
  get storage(): Storage {
    if (this.held === null) throw new BackendError(`tensor ${formatShape(this.shape)} used after dispose()`);
    return this.held;
  }

  /** Its values, logical row-major, copied out of the backend. */
  data(): TypedArray {
    return this.backend.read(this.storage, this.shape);
  }

  /** The values as a flat array of numbers, row-major. */
  toArray(): number[] {
    return Array.from(this.data());
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new ValueError(`item() needs a one-element tensor, got ${formatShape(this.shape)}`);
    return this.data()[0];
  }

  /** Releases the storage now instead of at garbage collection. Safe to call twice. */
  dispose(): void {
    if (this.held === null) return;
    this.releaseValues();
    this.node = null;
  }

  /**
   * Releases the values but keeps the tensor's place in the recorded graph, for an intermediate no gradient rule
   * reads (a BatchNorm's output that only a ReLU consumed): backward() passes gradients through it by its shape.
   * Reading it afterwards is an error, as after dispose().
   */
  releaseValues(): void {
    if (this.held === null) return;
    this.backend.release(this.held);
    this.held = null;
  }

  /**
   * Replaces this tensor's values with `source`'s, taking over its storage (source is left disposed). Used for
   * in-place updates of parameters and buffers; records no gradient.
   */
  assign(source: Tensor): this {
    if (source.shape.length !== this.shape.length || source.shape.some((d, i) => d !== this.shape[i])) {
      throw new ValueError(
        `assign: shape ${formatShape(source.shape)} does not match ${formatShape(this.shape)}`,
      );
    }
    if (source.dtype !== this.dtype || source.backend !== this.backend) {
      throw new ValueError(`assign: dtype or backend differs (${source.dtype} into ${this.dtype})`);
    }
    const storage = source.storage;
    source.held = null;
    keep(source);
    if (this.held !== null) this.backend.release(this.held);
    this.held = storage;
    return this;
  }

  /** Marks the tensor as a leaf whose gradient backward() accumulates into `grad`. */
  requireGrad(flag = true): this {
    if (flag && this.dtype !== 'float32') throw new ValueError('only float32 tensors can require gradients');
    this.requiresGrad = flag;
    return this;
  }

  /** Back-propagates from this tensor; a non-scalar needs the gradient of the loss with respect to it. */
  backward(grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
    checkOptions('Tensor.backward', options, { retainGraph: true });
    runBackward(this, grad, options.retainGraph ?? false);
  }

  /** A copy of the values, cut from the graph. */
  detach(): Tensor {
    return new Tensor(
      this.backend.reshape(this.storage, this.shape, this.shape),
      this.shape,
      this.dtype,
      this.backend,
    );
  }

  /** The shape, dtype and the first values, for printing. */
  toString(): string {
    const values = this.disposed ? '(disposed)' : this.size <= 8 ? `[${this.toArray().join(', ')}]` : '';
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}) ${values}`.trim();
  }
}
