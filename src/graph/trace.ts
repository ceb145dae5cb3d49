/**
 * Records the kernels a forward pass calls, with their exact attributes, for the ONNX exporter. Every op of
 * convnets ends in one call of a Backend method that receives its inputs' storages, their shapes and every
 * attribute (a convolution's stride, padding, dilation and groups; a slice's begin), and returns a fresh storage.
 * So the dataflow graph of a forward pass is the graph of those calls, linked by storage identity: no op needs to
 * report itself, and the tensor and nn layers stay untouched.
 *
 * The recording wraps the forward-pass methods of the one backend instance the model's tensors live on, as own
 * properties shadowing the class's methods, for the duration of a synchronous function, and removes them in a
 * finally block. Nothing else runs meanwhile (the function is synchronous), so no other caller sees the wrappers.
 */
import type { Backend, ConvPostOps, PoolResult, Shape, Storage, TypedArray } from '../backend/backend.js';
import { conv2dOutputShape, pool2dOutputShape } from '../backend/shapes.js';
import { ValueError } from '../errors.js';

/** The forward kernels an exported graph can contain (backward kernels never run in an eval-mode trace). */
export const tracedKernels = [
  'upload',
  'fill',
  'cast',
  'reshape',
  'unary',
  'binary',
  'axpby',
  'reduce',
  'matmul',
  'permute',
  'slice',
  'pad',
  'concat',
  'oneHot',
  'im2col',
  'conv2d',
  'pool2d',
  'adaptiveAvgPool2d',
  'lrn',
  'batchNormTraining',
  'batchNormInference',
  'softmax',
] as const satisfies readonly (keyof Backend)[];

export type TracedKernel = (typeof tracedKernels)[number];

/** One kernel call: its arguments as given, and the shape of the storage it returned. */
export interface KernelCall {
  readonly kernel: TracedKernel;
  readonly args: readonly unknown[];
  readonly shape: readonly number[];
  /** The storages it read, in the order of the node the exporter writes (a conv: x, w, bias, fused sum). */
  readonly inputs: readonly Storage[];
  /** upload's values, copied when called (the caller may reuse its array). */
  readonly values?: TypedArray;
}

export interface Trace<T> {
  readonly result: T;
  /** The call that made each storage returned during the trace. */
  readonly producers: Map<Storage, KernelCall>;
  /** The logical shape of every storage a traced call took or returned. */
  readonly shapes: Map<Storage, readonly number[]>;
}

const asShape = (v: unknown): number[] => [...(v as Shape)];

/** A conv2d call's post-ops (its optional last argument); {} when it has none. */
export const convPostOpsOf = (args: readonly unknown[]): ConvPostOps => (args[6] ?? {}) as ConvPostOps;

/** Output shape of a call and the shapes of its storage arguments, from the arguments alone. */
function describeCall(
  kernel: TracedKernel,
  args: readonly unknown[],
  shapes: Map<Storage, readonly number[]>,
): { shape: number[]; inputs: [Storage, number[]][] } {
  const s = (i: number) => args[i] as Storage;
  switch (kernel) {
    case 'upload':
      return { shape: asShape(args[1]), inputs: [] };
    case 'fill':
      return { shape: asShape(args[0]), inputs: [] };
    case 'cast':
    case 'unary':
    case 'lrn':
    case 'softmax':
      return kernel === 'unary'
        ? { shape: asShape(args[2]), inputs: [[s(1), asShape(args[2])]] }
        : { shape: asShape(args[1]), inputs: [[s(0), asShape(args[1])]] };
    case 'reshape':
      return { shape: asShape(args[2]), inputs: [[s(0), asShape(args[1])]] };
    case 'binary':
      return {
        shape: asShape(args[5]),
        inputs: [
          [s(1), asShape(args[2])],
          [s(3), asShape(args[4])],
        ],
      };
    case 'axpby': {
      const shape = asShape(args[4]);
      return {
        shape,
        inputs: [
          [s(1), shape],
          [s(3), shape],
        ],
      };
    }
    case 'reduce': {
      const shape = asShape(args[2]);
      const axes = args[3] as number[];
      return { shape: shape.map((d, i) => (axes.includes(i) ? 1 : d)), inputs: [[s(1), shape]] };
    }
    case 'matmul': {
      const [batch, m, k, n, transposeA, transposeB] = args.slice(2) as [
        number,
        number,
        number,
        number,
        boolean,
        boolean,
      ];
      // The kernel takes no shapes: a rank-3 operand is one whose recorded shape says so.
      const known = shapes.get(s(0));
      const batched = known !== undefined ? known.length === 3 : batch !== 1;
      const prefix = batched ? [batch] : [];
      return {
        shape: [...prefix, m, n],
        inputs: [
          [s(0), [...prefix, ...(transposeA ? [k, m] : [m, k])]],
          [s(1), [...prefix, ...(transposeB ? [n, k] : [k, n])]],
        ],
      };
    }
    case 'permute': {
      const shape = asShape(args[1]);
      return { shape: (args[2] as number[]).map((p) => shape[p]), inputs: [[s(0), shape]] };
    }
    case 'slice':
      return { shape: asShape(args[3]), inputs: [[s(0), asShape(args[1])]] };
    case 'pad': {
      const shape = asShape(args[1]);
      const [before, after] = [args[2] as number[], args[3] as number[]];
      return { shape: shape.map((d, i) => d + before[i] + after[i]), inputs: [[s(0), shape]] };
    }
    case 'concat': {
      const storages = args[0] as Storage[];
      const list = (args[1] as Shape[]).map(asShape);
      const axis = args[2] as number;
      const shape = list[0].map((d, i) => (i === axis ? list.reduce((n, sh) => n + sh[axis], 0) : d));
      return { shape, inputs: storages.map((st, i): [Storage, number[]] => [st, list[i]]) };
    }
    case 'oneHot':
      return { shape: [args[1] as number, args[2] as number], inputs: [] };
    case 'im2col':
      return { shape: [], inputs: [[s(0), asShape(args[1])]] };
    case 'conv2d': {
      const [xShape, wShape] = [asShape(args[1]), asShape(args[3])];
      const inputs: [Storage, number[]][] = [
        [s(0), xShape],
        [s(2), wShape],
      ];
      if (args[4] !== null) inputs.push([s(4), [wShape[0]]]);
      const shape = conv2dOutputShape(xShape, wShape, args[5] as never);
      // A fused sum's operand (ConvPostOps.add) comes last.
      const { add } = convPostOpsOf(args);
      if (add) inputs.push([add, shape]);
      return { shape, inputs };
    }
    case 'pool2d':
      return {
        shape: pool2dOutputShape(asShape(args[2]), args[3] as never),
        inputs: [[s(1), asShape(args[2])]],
      };
    case 'adaptiveAvgPool2d': {
      const xShape = asShape(args[1]);
      return { shape: [xShape[0], xShape[1], ...(args[2] as number[])], inputs: [[s(0), xShape]] };
    }
    case 'batchNormTraining':
    case 'batchNormInference': {
      const shape = asShape(args[1]);
      const channel = [shape[1]];
      const stats = kernel === 'batchNormInference' ? [s(4), s(5)] : [];
      return {
        shape,
        inputs: [[s(0), shape], ...[s(2), s(3), ...stats].map((st): [Storage, number[]] => [st, channel])],
      };
    }
  }
}

/**
 * Runs fn (synchronously) with every forward kernel of `backend` recorded. The storages fn's result holds map to
 * the calls that made them; storages made before (parameters, the input) have no producer.
 */
export function traceKernels<T>(backend: Backend, fn: () => T): Trace<T> {
  const producers = new Map<Storage, KernelCall>();
  const shapes = new Map<Storage, readonly number[]>();
  const target = backend as unknown as Record<string, unknown>;
  const saved = new Map<string, PropertyDescriptor | undefined>();
  for (const kernel of tracedKernels) {
    const original = target[kernel];
    if (typeof original !== 'function')
      throw new ValueError(`trace: backend '${backend.name}' has no ${kernel}()`);
    saved.set(kernel, Object.getOwnPropertyDescriptor(target, kernel));
    const wrapper = (...args: unknown[]): unknown => {
      const out = (original as (...a: unknown[]) => unknown).apply(backend, args);
      const { shape, inputs } = describeCall(kernel, args, shapes);
      for (const [storage, inputShape] of inputs) if (!shapes.has(storage)) shapes.set(storage, inputShape);
      const storage =
        kernel === 'pool2d' || kernel === 'batchNormTraining' ? (out as PoolResult).y : (out as Storage);
      const values = kernel === 'upload' ? (args[0] as TypedArray).slice() : undefined;
      // An inner call a kernel makes on the same backend (reference kernels may reuse others) is overwritten here by
      // the outer call, which returns last.
      producers.set(storage, { kernel, args, shape, values, inputs: inputs.map(([input]) => input) });
      shapes.set(storage, shape);
      return out;
    };
    Object.defineProperty(target, kernel, {
      value: wrapper,
      configurable: true,
      writable: true,
      enumerable: false,
    });
  }
  try {
    return { result: fn(), producers, shapes };
  } finally {
    for (const [kernel, descriptor] of saved) {
      if (descriptor === undefined) delete target[kernel];
      else Object.defineProperty(target, kernel, descriptor);
    }
  }
}
