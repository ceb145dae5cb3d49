/**
 * Kernel calls as data: which Backend methods are kernels, a typed call of each, and what a call reads and makes.
 * Every table that follows the kernels is keyed by Kernel (`{ [K in Kernel]: Rule<K> }`), so a Backend method added
 * without its row in each table does not compile, and a row reads its call's arguments by destructuring a tuple
 * typed from the method's own parameters.
 */
import type { Backend, Shape, Storage } from './backend.js';
import { conv2dOutputShape, convSpatialOutput, pool2dOutputShape } from './shapes.js';

/** Backend members that are not kernels: what the backend is, and the bookkeeping of storages it already made. */
type NotKernel = 'name' | 'threads' | 'shapeOnly' | 'recorder' | 'describe' | 'read' | 'release' | 'memory';

export type Kernel = Exclude<keyof Backend, NotKernel>;
export type KernelArgs<K extends Kernel> = Parameters<Backend[K]>;
export type KernelResult<K extends Kernel> = ReturnType<Backend[K]>;

/** One call of kernel K, with its arguments as the Backend method takes them. */
export interface KernelCallOf<K extends Kernel> {
  readonly kernel: K;
  readonly args: KernelArgs<K>;
}

/** A call of any kernel: a union discriminated by `kernel`, so testing the kernel narrows the arguments. */
export type KernelCall = { [K in Kernel]: KernelCallOf<K> }[Kernel];

/** What a call reads and makes, from its arguments alone. */
export interface CallShapes {
  /**
   * The storages it reads, each with its logical shape, in the order an exported node takes them (a convolution: x,
   * w, bias, then a fused sum's operand).
   */
  readonly reads: readonly (readonly [Storage, Shape])[];
  /** The logical shape of what it returns (of `y` for pooling and batch norm, of `dx` for batch norm's gradient). */
  readonly shape: Shape;
}

/** Told each storage a call reads, with its logical shape, in the order an exported node takes them. */
export type ReadStorage = (storage: Storage, shape: Shape) => void;

/**
 * The shape a caller recorded for a storage, where it knows one (a trace does): matmul takes no shapes, and its
 * operands' rank decides its output's.
 */
export type KnownShape = (storage: Storage) => Shape | undefined;

/**
 * A kernel's output shape from a call's arguments. It tells `read` of each storage the call reads before working
 * out the shape, so that a backend checking its storages there refuses a foreign one before a shape mismatch.
 */
type ShapeRule<K extends Kernel> = (args: KernelArgs<K>, read: ReadStorage, known: KnownShape) => Shape;

/** Reads storages that all have `shape`, the shape of the output too. */
function readAll(read: ReadStorage, shape: Shape, ...storages: Storage[]): Shape {
  for (const s of storages) read(s, shape);
  return shape;
}

/** Each kernel's reads and output shape: the meta backend makes its storages from these, a trace records them. */
const kernelShapes: { readonly [K in Kernel]: ShapeRule<K> } = {
  upload: ([, shape]) => shape,
  fill: ([shape]) => shape,
  cast: ([x, shape], read) => readAll(read, shape, x),
  reshape: ([x, shape, newShape], read) => {
    read(x, shape);
    return newShape;
  },
  unary: ([, x, shape], read) => readAll(read, shape, x),
  activationBackward: ([, x, y, dy, shape], read) => readAll(read, shape, x, y, dy),
  binary: ([, a, aShape, b, bShape, outShape], read) => {
    read(a, aShape);
    read(b, bShape);
    return outShape;
  },
  axpby: ([, x, , y, shape], read) => readAll(read, shape, x, y),
  reduce: ([, x, shape, axes], read) => {
    read(x, shape);
    return shape.map((d, i) => (axes.includes(i) ? 1 : d));
  },
  matmul: ([a, b, batch, m, k, n, transposeA, transposeB], read, known) => {
    const rank = known(a)?.length;
    const prefix = (rank !== undefined ? rank === 3 : batch !== 1) ? [batch] : [];
    read(a, [...prefix, ...(transposeA ? [k, m] : [m, k])]);
    read(b, [...prefix, ...(transposeB ? [n, k] : [k, n])]);
    return [...prefix, m, n];
  },
  permute: ([x, shape, perm], read) => {
    read(x, shape);
    return perm.map((p) => shape[p]);
  },
  slice: ([x, shape, , size], read) => {
    read(x, shape);
    return size;
  },
  pad: ([x, shape, before, after], read) => {
    read(x, shape);
    return shape.map((d, i) => d + before[i] + after[i]);
  },
  concat: ([xs, shapes, axis], read) => {
    xs.forEach((x, i) => read(x, shapes[i]));
    return shapes[0].map((d, i) => (i === axis ? shapes.reduce((n, s) => n + s[axis], 0) : d));
  },
  oneHot: ([labels, n, numClasses], read) => {
    read(labels, [n]);
    return [n, numClasses];
  },
  im2col: ([x, xShape, kernel, attrs], read) => {
    read(x, xShape);
    const [outH, outW] = convSpatialOutput(xShape, kernel, attrs);
    return [attrs.groups, (xShape[1] / attrs.groups) * kernel[0] * kernel[1], xShape[0] * outH * outW];
  },
  conv2d: ([x, xShape, w, wShape, bias, attrs, post = {}], read) => {
    read(x, xShape);
    read(w, wShape);
    if (bias !== null) read(bias, [wShape[0]]);
    const shape = conv2dOutputShape(xShape, wShape, attrs);
    if (post.add) read(post.add, shape);
    return shape;
  },
  conv2dBackwardData: ([dy, dyShape, w, wShape, xShape], read) => {
    read(dy, dyShape);
    read(w, wShape);
    return xShape;
  },
  conv2dBackwardFilter: ([x, xShape, dy, dyShape, wShape], read) => {
    read(x, xShape);
    read(dy, dyShape);
    return wShape;
  },
  pool2d: ([, x, xShape, attrs], read) => {
    read(x, xShape);
    return pool2dOutputShape(xShape, attrs);
  },
  pool2dBackward: ([, dy, dyShape, xShape, , workspace], read) => {
    read(dy, dyShape);
    if (workspace !== null) read(workspace, dyShape);
    return xShape;
  },
  adaptiveAvgPool2d: ([x, xShape, outSize], read) => {
    read(x, xShape);
    return [xShape[0], xShape[1], ...outSize];
  },
  adaptiveAvgPool2dBackward: ([dy, dyShape, xShape], read) => {
    read(dy, dyShape);
    return xShape;
  },
  resize2d: ([x, xShape, outSize], read) => {
    read(x, xShape);
    return [xShape[0], xShape[1], ...outSize];
  },
  resize2dBackward: ([dy, dyShape, xShape], read) => {
    read(dy, dyShape);
    return xShape;
  },
  lrn: ([x, shape], read) => readAll(read, shape, x),
  lrnBackward: ([x, dy, shape], read) => readAll(read, shape, x, dy),
  batchNormTraining: ([x, shape, gamma, beta], read) => {
    read(x, shape);
    readAll(read, [shape[1]], gamma, beta);
    return shape;
  },
  batchNormInference: ([x, shape, gamma, beta, mean, variance], read) => {
    read(x, shape);
    readAll(read, [shape[1]], gamma, beta, mean, variance);
    return shape;
  },
  batchNormBackward: ([x, dy, shape, gamma, mean, variance, , relu], read) => {
    readAll(read, shape, x, dy);
    readAll(read, [shape[1]], gamma, mean, variance);
    // A fused ReLU's output or its mask, whichever the backend kept.
    if (relu) {
      if ('mask' in relu) read(relu.mask, [relu.mask.size]);
      else read(relu.y, shape);
    }
    return shape;
  },
  softmax: ([x, shape], read) => readAll(read, shape, x),
  softmaxBackward: ([y, dy, shape], read) => readAll(read, shape, y, dy),
};

/** A call's output shape; `read` is told of each storage it reads, with its shape, first. */
export function outputShape<K extends Kernel>(
  call: KernelCallOf<K>,
  read: ReadStorage,
  known: KnownShape = () => undefined,
): Shape {
  const rule: ShapeRule<K> = kernelShapes[call.kernel];
  return rule(call.args, read, known);
}

/** The storages a call reads, with their shapes, and the shape of its output. */
export function callShapes<K extends Kernel>(call: KernelCallOf<K>, known?: KnownShape): CallShapes {
  const reads: [Storage, Shape][] = [];
  const shape = outputShape(call, (storage, storageShape) => reads.push([storage, storageShape]), known);
  return { reads, shape };
}
