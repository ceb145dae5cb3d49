import type { Backend, DType, Shape, Storage, TypedArray } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { checkShape } from '../backend/shapes.js';
import { ShapeError, ValueError, formatShape } from '../errors.js';
import { Generator, globalGenerator } from './random.js';
import { Tensor } from './tensor.js';
import { checkOptions } from '../options.js';

/** A number or nested arrays of numbers, as tensor() takes its values. */
export type NestedArray = number | NestedArray[];

/** Options of the tensor constructors. */
export interface CreationOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  /** Where the tensor lives (PyTorch's `device`); default: the active backend. */
  backend?: Backend;
}

/** Options of the random tensor constructors. */
export interface RandomOptions extends CreationOptions {
  generator?: Generator;
}

/** Wraps a storage the backend just made. */
export function fromStorage(
  storage: Storage,
  shape: Shape,
  backend: Backend,
  dtype: DType = 'float32',
): Tensor {
  return new Tensor(storage, shape, dtype, backend);
}

function inferShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let level: NestedArray = values;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  return shape;
}

/**
 * A tensor from values: a flat array or typed array with a shape, or nested arrays whose nesting is the shape.
 * int32 values come from an Int32Array or `dtype: 'int32'`.
 */
export function tensor(
  values: NestedArray | TypedArray,
  shape?: Shape,
  options: CreationOptions = {},
): Tensor {
  checkOptions('tensor', options, { dtype: true, requiresGrad: true, backend: true });
  const dtype = options.dtype ?? (values instanceof Int32Array ? 'int32' : 'float32');
  const inferred = ArrayBuffer.isView(values) ? [values.length] : inferShape(values);
  const finalShape = shape ?? inferred;
  const size = checkShape(finalShape, 'tensor()');
  const flat: ArrayLike<number> = ArrayBuffer.isView(values)
    ? values
    : Array.isArray(values)
      ? ((values as unknown[]).flat(Infinity) as number[])
      : [values];
  if (flat.length !== size) {
    throw new ShapeError(`tensor(): ${flat.length} values do not fill shape ${formatShape(finalShape)}`);
  }
  // A typed array of the right kind goes straight to the backend, which copies it once.
  const typed =
    dtype === 'int32'
      ? flat instanceof Int32Array
        ? flat
        : Int32Array.from(flat)
      : flat instanceof Float32Array
        ? flat
        : Float32Array.from(flat);
  const backend = options.backend ?? getBackend();
  const t = fromStorage(backend.upload(typed, finalShape), finalShape, backend, dtype);
  return options.requiresGrad ? t.requireGrad() : t;
}

/** A tensor of rank 0 holding one value. */
export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return tensor([value], [], { dtype });
}

function filled(op: string, shape: Shape, value: number, options: CreationOptions): Tensor {
  checkShape(shape, op);
  const dtype = options.dtype ?? 'float32';
  const backend = options.backend ?? getBackend();
  const t = fromStorage(backend.fill(shape, value, dtype), shape, backend, dtype);
  return options.requiresGrad ? t.requireGrad() : t;
}

/** A tensor of `shape` with every element `value`. */
export function full(shape: Shape, value: number, options: CreationOptions = {}): Tensor {
  checkOptions('full', options, { dtype: true, requiresGrad: true, backend: true });
  return filled('full()', shape, value, options);
}

/** A tensor of zeros. */
export function zeros(shape: Shape, options: CreationOptions = {}): Tensor {
  checkOptions('zeros', options, { dtype: true, requiresGrad: true, backend: true });
  return filled('zeros()', shape, 0, options);
}

/** A tensor of ones. */
export function ones(shape: Shape, options: CreationOptions = {}): Tensor {
  checkOptions('ones', options, { dtype: true, requiresGrad: true, backend: true });
  return filled('ones()', shape, 1, options);
}

/** Same shape, dtype and backend as `like`. */
export function fullLike(like: Tensor, value: number): Tensor {
  return full(like.shape, value, { dtype: like.dtype, backend: like.backend });
}

/** Zeros of another tensor's shape, dtype and backend. */
export function zerosLike(like: Tensor): Tensor {
  return fullLike(like, 0);
}

/** Ones of another tensor's shape, dtype and backend. */
export function onesLike(like: Tensor): Tensor {
  return fullLike(like, 1);
}

function randomTensor(
  op: string,
  shape: Shape,
  draw: (g: Generator) => number,
  options: RandomOptions,
): Tensor {
  const values = new Float32Array(checkShape(shape, op));
  const generator = options.generator ?? globalGenerator();
  for (let i = 0; i < values.length; i++) values[i] = draw(generator);
  return tensor(values, shape, { requiresGrad: options.requiresGrad, backend: options.backend });
}

/** Standard normal values. */
export function randn(shape: Shape, options: RandomOptions = {}): Tensor {
  checkOptions('randn', options, { dtype: true, requiresGrad: true, backend: true, generator: true });
  return randomTensor('randn()', shape, (g) => g.normal(), options);
}

/** Uniform values in [low, high). */
export function uniform(shape: Shape, low = 0, high = 1, options: RandomOptions = {}): Tensor {
  checkOptions('uniform', options, { dtype: true, requiresGrad: true, backend: true, generator: true });
  if (!(high > low)) throw new ValueError(`uniform(): high (${high}) must exceed low (${low})`);
  return randomTensor('uniform()', shape, (g) => low + (high - low) * g.uniform(), options);
}

/** Uniform values in [0, 1). */
export function rand(shape: Shape, options: RandomOptions = {}): Tensor {
  checkOptions('rand', options, { dtype: true, requiresGrad: true, backend: true, generator: true });
  return randomTensor('rand()', shape, (g) => g.uniform(), options);
}
