/**
 * A module's forward pass as a graph for export: traced once in evaluation mode (trace.ts), then reduced to what
 * the output depends on, with each Linear layer's matmul and bias addition merged into one value that ONNX writes
 * as a Gemm.
 */
import type { Shape, Storage, TypedArray } from '../backend/backend.js';
import { ValueError } from '../errors.js';
import { Module, observeCalls } from '../nn/index.js';
import { noGrad, type Tensor } from '../tensor/index.js';
import { traceKernels, type Trace, type TracedCall, type TracedCallOf } from './trace.js';

export interface TracedModule extends Trace<Tensor> {
  /** The module path of the layer whose output each storage is ('layer1.0.conv1'), for node names. */
  readonly paths: Map<Storage, string>;
}

/** Runs `module` on `sample` once in evaluation mode with its kernel calls recorded; every module's mode is restored. */
export function traceModule(module: Module, sample: Tensor): TracedModule {
  const modes = module.modules().map((m): [Module, boolean] => [m, m.training]);
  const paths = new Map<Storage, string>();
  const stopObserving = observeCalls((call) => {
    if (call.path !== '' && !call.output.disposed && !paths.has(call.output.storage)) {
      paths.set(call.output.storage, call.path);
    }
  });
  try {
    module.eval();
    return { ...traceKernels(sample.backend, () => noGrad(() => module.call(sample))), paths };
  } finally {
    stopObserving();
    for (const [m, training] of modes) m.training = training;
  }
}

/** A value of the exported graph. */
export type GraphValue =
  | { readonly kind: 'input'; readonly storage: Storage }
  /** A parameter or buffer, under its state-dict key. */
  | { readonly kind: 'state'; readonly storage: Storage; readonly key: string; readonly tensor: Tensor }
  /** Made before the trace and owned by no module: its values when traced. */
  | {
      readonly kind: 'constant';
      readonly storage: Storage;
      readonly shape: Shape;
      readonly values: TypedArray;
    }
  | { readonly kind: 'call'; readonly storage: Storage; readonly call: TracedCall }
  /** A Linear layer's y = x·Wᵀ + b: the matmul and the bias it adds. */
  | {
      readonly kind: 'linear';
      readonly storage: Storage;
      readonly product: TracedCallOf<'matmul'>;
      readonly bias: Storage;
    };

/** Storages reachable from `root`, each after the ones it reads (iterative: deep nets would overflow recursion). */
function postOrder(root: Storage, deps: (s: Storage) => readonly Storage[]): Storage[] {
  const order: Storage[] = [];
  const seen = new Set<Storage>();
  const stack: [Storage, boolean][] = [[root, false]];
  while (stack.length > 0) {
    const [s, expanded] = stack.pop()!;
    if (expanded) {
      order.push(s);
      continue;
    }
    if (seen.has(s)) continue;
    seen.add(s);
    stack.push([s, true]);
    for (const d of [...deps(s)].reverse()) if (!seen.has(d)) stack.push([d, false]);
  }
  return order;
}

/**
 * The values the traced output depends on, each after the values it reads: the input, the module's state, values
 * made before the trace, and the recorded calls, a Linear layer's matmul and bias addition merged into one.
 */
export function exportGraph(traced: TracedModule, module: Module, input: Tensor): GraphValue[] {
  const { result: output, producers, shapes } = traced;
  const state = new Map<Storage, [string, Tensor]>();
  for (const [key, t] of module.stateDict()) if (!state.has(t.storage)) state.set(t.storage, [key, t]);
  const producerOf = (s: Storage): TracedCall | undefined =>
    s === input.storage || state.has(s) ? undefined : producers.get(s);
  const isVector = (s: Storage) => state.get(s)?.[1].shape.length === 1;

  // Linear's y = x·Wᵀ + b (a 2-D matmul read only by the add of a 1-D parameter, possibly reshaped to [1, n])
  // becomes one Gemm.
  const plain = postOrder(output.storage, (s) => producerOf(s)?.inputs ?? []);
  const uses = new Map<Storage, number>();
  for (const s of plain) for (const d of producerOf(s)?.inputs ?? []) uses.set(d, (uses.get(d) ?? 0) + 1);
  const biasOf = (s: Storage): Storage | null => {
    if (isVector(s)) return s;
    const call = producerOf(s);
    if (call?.kernel !== 'reshape' || call.shape.length !== 2 || call.shape[0] !== 1) return null;
    const [source] = call.args;
    return isVector(source) ? source : null;
  };
  const linear = new Map<Storage, { product: TracedCallOf<'matmul'>; bias: Storage }>();
  for (const s of plain) {
    const call = producerOf(s);
    if (call?.kernel !== 'binary') continue;
    const [op, a, , b] = call.args;
    const product = producerOf(a);
    const bias = biasOf(b);
    if (
      op === 'add' &&
      product?.kernel === 'matmul' &&
      product.shape.length === 2 &&
      uses.get(a) === 1 &&
      bias !== null &&
      call.shape.join() === product.shape.join()
    ) {
      linear.set(s, { product, bias });
    }
  }
  const depsOf = (s: Storage): readonly Storage[] => {
    const merged = linear.get(s);
    return merged !== undefined ? [...merged.product.inputs, merged.bias] : (producerOf(s)?.inputs ?? []);
  };

  return postOrder(output.storage, depsOf).map((storage): GraphValue => {
    if (storage === input.storage) return { kind: 'input', storage };
    const owned = state.get(storage);
    if (owned !== undefined) return { kind: 'state', storage, key: owned[0], tensor: owned[1] };
    const merged = linear.get(storage);
    if (merged !== undefined) return { kind: 'linear', storage, ...merged };
    const call = producers.get(storage);
    if (call !== undefined) return { kind: 'call', storage, call };
    const shape = shapes.get(storage);
    if (shape === undefined) throw new ValueError('exportOnnx: a value of unknown shape reached the graph');
    return { kind: 'constant', storage, shape, values: input.backend.read(storage, shape) };
  });
}
