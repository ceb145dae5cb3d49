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
import type { Backend, Shape, Storage } from '../backend/backend.js';
import {
  callShapes,
  type Kernel,
  type KernelArgs,
  type KernelCallOf,
  type KernelResult,
} from '../backend/kernels.js';
import { ValueError } from '../errors.js';

/** How a trace records a kernel's calls. */
interface Recorded<K extends Kernel> {
  /** The storage a call made, from what it returned. */
  output(result: KernelResult<K>): Storage;
  /** The arguments as kept: a copy of any the caller may change after the call. */
  keep?(args: KernelArgs<K>): KernelArgs<K>;
}

/** A kernel only a backward pass calls: never in the trace of an evaluation-mode forward pass under noGrad. */
const GRADIENT = 'gradient';

type TraceRule<K extends Kernel> = Recorded<K> | typeof GRADIENT;

const returned = { output: (y: Storage) => y };
const outputY = { output: ({ y }: { y: Storage }) => y };

/** Every kernel, recorded or (a gradient) left alone. */
const traceRules = {
  // upload's values are copied when called: the caller may reuse its array.
  upload: { output: (y: Storage) => y, keep: ([values, shape]) => [values.slice(), shape] },
  fill: returned,
  cast: returned,
  reshape: returned,
  unary: returned,
  activationBackward: GRADIENT,
  binary: returned,
  axpby: returned,
  reduce: returned,
  matmul: returned,
  permute: returned,
  slice: returned,
  pad: returned,
  concat: returned,
  oneHot: returned,
  im2col: returned,
  conv2d: returned,
  conv2dBackwardData: GRADIENT,
  conv2dBackwardFilter: GRADIENT,
  pool2d: outputY,
  pool2dBackward: GRADIENT,
  adaptiveAvgPool2d: returned,
  adaptiveAvgPool2dBackward: GRADIENT,
  resize2d: returned,
  resize2dBackward: GRADIENT,
  lrn: returned,
  lrnBackward: GRADIENT,
  batchNormTraining: outputY,
  batchNormInference: returned,
  batchNormBackward: GRADIENT,
  softmax: returned,
  softmaxBackward: GRADIENT,
} as const satisfies { [K in Kernel]: TraceRule<K> };

/** The kernels a trace records: every kernel but the gradients. */
export type TracedKernel = {
  [K in Kernel]: (typeof traceRules)[K] extends typeof GRADIENT ? never : K;
}[Kernel];

const tracedKernels = (Object.keys(traceRules) as Kernel[]).filter(
  (kernel): kernel is TracedKernel => traceRules[kernel] !== GRADIENT,
);

/** One recorded call: its kernel and arguments, the shape of the storage it made and the storages it read. */
export interface TracedCallOf<K extends TracedKernel> extends KernelCallOf<K> {
  readonly shape: Shape;
  /** The storages it read, in the order of the node the exporter writes (a conv: x, w, bias, fused sum). */
  readonly inputs: readonly Storage[];
}

export type TracedCall = { [K in TracedKernel]: TracedCallOf<K> }[TracedKernel];

/**
 * What tracing a function recorded: its result and, for each storage, the kernel call that made it and its shape.
 */
export interface Trace<T> {
  readonly result: T;
  /** The call that made each storage returned during the trace. */
  readonly producers: Map<Storage, TracedCall>;
  /** The logical shape of every storage a traced call took or returned. */
  readonly shapes: Map<Storage, Shape>;
}

/**
 * Runs fn (synchronously) with every forward kernel of `backend` recorded. The storages fn's result holds map to
 * the calls that made them; storages made before (parameters, the input) have no producer.
 */
export function traceKernels<T>(backend: Backend, fn: () => T): Trace<T> {
  const producers = new Map<Storage, TracedCall>();
  const shapes = new Map<Storage, Shape>();
  const target = backend as unknown as Record<string, unknown>;
  const saved = new Map<string, PropertyDescriptor | undefined>();

  function wrap<K extends TracedKernel>(kernel: K): void {
    const original = target[kernel];
    if (typeof original !== 'function')
      throw new ValueError(`trace: backend '${backend.name}' has no ${kernel}()`);
    const rule = traceRules[kernel] as Recorded<K>;
    const run = original as (...args: KernelArgs<K>) => KernelResult<K>;
    saved.set(kernel, Object.getOwnPropertyDescriptor(target, kernel));
    const wrapper = (...called: KernelArgs<K>): KernelResult<K> => {
      const result = run.apply(backend, called);
      const args = rule.keep?.(called) ?? called;
      const { reads, shape } = callShapes({ kernel, args }, (s) => shapes.get(s));
      for (const [storage, inputShape] of reads) if (!shapes.has(storage)) shapes.set(storage, inputShape);
      const storage = rule.output(result);
      // An inner call a kernel makes on the same backend (reference kernels may reuse others) is overwritten here by
      // the outer call, which returns last.
      const call: TracedCallOf<K> = { kernel, args, shape, inputs: reads.map(([input]) => input) };
      producers.set(storage, call as TracedCall);
      shapes.set(storage, shape);
      return result;
    };
    Object.defineProperty(target, kernel, {
      value: wrapper,
      configurable: true,
      writable: true,
      enumerable: false,
    });
  }

  try {
    tracedKernels.forEach(wrap);
    return { result: fn(), producers, shapes };
  } finally {
    for (const [kernel, descriptor] of saved) {
      if (descriptor === undefined) delete target[kernel];
      else Object.defineProperty(target, kernel, descriptor);
    }
  }
}
