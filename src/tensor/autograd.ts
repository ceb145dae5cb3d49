import { BackendError, ValueError, formatShape } from '../errors.js';
import { isInternal, keep, scope } from './scope.js';
import type { GradNode, Tensor } from './tensor.js';
import { add } from './ops/arithmetic.js';
import { onesLike } from './creation.js';

let gradEnabled = true;

/** Outputs whose node a backward() without retainGraph freed, with the op that made them: not leaves. */
const freed = new WeakMap<Tensor, string>();

/** Tensors whose values some recorded rule reads (GradNode.reads and .saved): they must live until backward. */
const readByBackward = new WeakSet<Tensor>();

/** Whether a recorded gradient rule reads this tensor's values, so releasing them would break backward(). */
export function isReadByBackward(t: Tensor): boolean {
  return readByBackward.has(t);
}

/** How to compute again the values of a tensor that rules read, by tensor (recordRecompute). */
const recipes = new WeakMap<Tensor, () => Tensor>();

/** Whether ops register what backward() may compute again (setRecompute). */
let recomputing = false;

/**
 * Turns on (or off) computing again in backward() what is cheap to compute rather than keeping it through the
 * forward: a ReLU's output after a training BatchNorm. Less memory for more time (docs/performance.md, "Memory");
 * off by default, as PyTorch's checkpointing is. Returns the previous setting.
 */
export function setRecompute(on: boolean): boolean {
  const previous = recomputing;
  recomputing = on;
  return previous;
}

/** f() with recomputing set to `on` (setRecompute), then as it was; f() as it stands where `on` is undefined. */
export function withRecompute<T>(on: boolean | undefined, f: () => T): T {
  if (on === undefined) return f();
  const previous = setRecompute(on);
  try {
    return f();
  } finally {
    setRecompute(previous);
  }
}

/**
 * Registers how to compute t's values again from what the graph keeps anyway (a BatchNorm's output from its input; a
 * ReLU's from that), where setRecompute is on: a forward may then release them although recorded rules read them,
 * and backward() computes them just before the first rule that reads them and releases them after the last.
 * Activation checkpointing for what is cheap to recompute; while the values are held, nothing changes.
 */
export function recordRecompute(t: Tensor, recompute: () => Tensor): void {
  if (recomputing && t.node !== null) recipes.set(t, recompute);
}

/**
 * Whether backward() can compute t's values again (recordRecompute), so that a forward may release them: not once
 * t is disposed, or its node freed by a backward().
 */
export function isRecomputable(t: Tensor): boolean {
  return t.node !== null && recipes.has(t);
}

/**
 * f of t's values: t itself where it holds them, else a copy computed again (recordRecompute), released once f has
 * returned. How a recipe reads what it computes from, which may itself have been released.
 */
export function withValuesOf<T>(t: Tensor, f: (values: Tensor) => T): T {
  if (!t.disposed || !isRecomputable(t)) return f(t);
  const values = recipes.get(t)!();
  try {
    return f(values);
  } finally {
    values.dispose();
  }
}

/** What to call once backward() has accumulated a leaf's gradient, by leaf. */
const gradientHooks = new WeakMap<Tensor, Set<(leaf: Tensor) => void>>();

/**
 * Calls `hook(leaf)` each time backward() has accumulated the leaf's gradient into `leaf.grad`, as PyTorch's
 * `register_post_accumulate_grad_hook`: data parallelism starts sending a bucket of gradients while the backward
 * pass goes on through the layers below. Returns a function that removes the hook.
 */
export function onGradientAccumulated(leaf: Tensor, hook: (leaf: Tensor) => void): () => void {
  let hooks = gradientHooks.get(leaf);
  if (hooks === undefined) gradientHooks.set(leaf, (hooks = new Set()));
  // Wrapped, so that registering one function twice gives two hooks, each removed on its own.
  const entry = (t: Tensor) => hook(t);
  hooks.add(entry);
  return () => {
    hooks.delete(entry);
  };
}

/** Whether ops record gradients now (false inside noGrad). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording gradients, as PyTorch's torch.no_grad(). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Whether an op on these inputs records its gradient rule: what it may skip computing when not. */
export function willRecord(inputs: readonly Tensor[]): boolean {
  return gradEnabled && inputs.some((t) => t.requiresGrad);
}

/**
 * Attaches the op's gradient rule to its output when gradients are being recorded and any input needs one.
 * `backward` maps dL/d(output) to dL/d(each input), null where an input needs none; `saved` lists the other
 * tensors it reads, so that a scope returning the output keeps them too. `reads` names the inputs, and the output,
 * whose values `backward` reads (default: all of them); the others' values may be released before backward runs.
 */
export function record(
  op: string,
  output: Tensor,
  inputs: readonly Tensor[],
  backward: GradNode['backward'],
  saved: readonly Tensor[] = [],
  reads: readonly Tensor[] = [...inputs, output],
): Tensor {
  if (willRecord(inputs)) {
    output.requiresGrad = true;
    // Copied: a caller may reuse its array (DenseNet grows one list of features), and the graph must not change.
    output.node = { op, inputs: [...inputs], backward, saved: [...saved], reads: [...reads] };
    for (const t of [...reads, ...saved]) readByBackward.add(t);
  }
  return output;
}

/** Tensors reachable from root through recorded nodes, each after every tensor computed from it. */
function reverseTopologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length > 0) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const input of t.node?.inputs ?? [])
      if (input.requiresGrad && !seen.has(input)) stack.push([input, false]);
  }
  return order.reverse();
}

export function runBackward(root: Tensor, grad: Tensor | undefined, retainGraph: boolean): void {
  if (!root.requiresGrad) throw new ValueError('backward(): the tensor does not require a gradient');
  if (grad === undefined && root.size !== 1) {
    throw new ValueError(
      `backward(): a gradient is needed for a non-scalar output ${formatShape(root.shape)}`,
    );
  }
  if (grad !== undefined && grad.shape.join() !== root.shape.join()) {
    throw new ValueError(
      `backward(): gradient ${formatShape(grad.shape)} does not match output ${formatShape(root.shape)}`,
    );
  }
  const order = reverseTopologicalOrder(root);
  // Checked before anything accumulates, so a refused call leaves every .grad as it was.
  for (const t of order) {
    const gone = missingValues(t);
    if (gone !== undefined) {
      throw new BackendError(
        `backward(): tensor ${formatShape(gone.shape)} in the graph was disposed before backward() reached it`,
      );
    }
    const op = t.node === null ? freed.get(t) : undefined;
    if (op !== undefined) {
      throw new ValueError(
        `backward(): the graph through ${op} ${formatShape(t.shape)} was freed by an earlier backward(); ` +
          'pass { retainGraph: true } to that call to back-propagate through it again',
      );
    }
  }
  const recomputed = new Recomputed(order);
  const consumed = retainGraph ? null : consumedBy(order);
  // Past a node: what it computed again and what only the graph held go once no later rule reads them.
  const passed = (node: GradNode | null): void => {
    recomputed.passed(node);
    for (const r of consumed?.passed(node) ?? []) r.releaseValues();
  };
  const grads = new Map<Tensor, Tensor>();
  noGrad(() => {
    grads.set(root, grad ?? onesLike(root));
    for (const t of order) {
      const g = grads.get(t);
      const node = t.node;
      if (g === undefined) {
        passed(node);
        continue;
      }
      grads.delete(t);
      if (node === null) {
        accumulateLeafGradient(t, g === grad ? g.detach() : g);
        continue;
      }
      recomputed.restore(node);
      // The scope releases the rule's temporaries; the gradients it returns survive.
      const inputGrads = scope(() => node.backward(g));
      passed(node);
      // A rule may hand dy straight through, or one tensor to several inputs: each input gets its own.
      const handedOut = new Set<Tensor>(g === grad ? [g] : []);
      const unused = new Set<Tensor>();
      node.inputs.forEach((input, i) => {
        let gi = inputGrads[i] ?? null;
        if (gi === null) return;
        if (!input.requiresGrad) {
          unused.add(gi);
          return;
        }
        if (handedOut.has(gi)) gi = gi.detach();
        handedOut.add(gi);
        const previous = grads.get(input);
        grads.set(input, previous === undefined ? gi : sumAndDispose(previous, gi));
      });
      for (const u of [...unused, g]) if (!handedOut.has(u)) u.dispose();
      if (!retainGraph) {
        freed.set(t, node.op);
        t.node = null;
      }
    }
  });
}

/**
 * What backward() would need of t and no longer has: t itself, disposed, where it stands as a leaf; else a value its
 * rule reads that was released and cannot be computed again. An intermediate may have given up values no rule reads
 * (releaseValues): its place in the graph suffices. A disposed one has lost its place too, and stands as a leaf.
 */
function missingValues(t: Tensor): Tensor | undefined {
  if (t.node === null) return t.disposed ? t : undefined;
  return t.node.reads.find((r) => r.disposed && !isRecomputable(r));
}

/**
 * For the tensors `counted` selects, how many rules still to come in one backward() pass read each (`readsOf`):
 * what lets the pass release a value once it is past its last reader.
 */
class ReadersLeft {
  readonly #left = new Map<Tensor, number>();

  constructor(
    order: readonly Tensor[],
    private readonly readsOf: (node: GradNode | null) => Iterable<Tensor>,
    counted: (t: Tensor) => boolean,
  ) {
    for (const t of order)
      for (const r of readsOf(t.node)) if (counted(r)) this.#left.set(r, (this.#left.get(r) ?? 0) + 1);
  }

  /** The pass is past `node` (its rule ran or had no gradient to run on): the counted tensors no later rule reads. */
  passed(node: GradNode | null): Tensor[] {
    const done: Tensor[] = [];
    for (const r of this.readsOf(node)) {
      const left = this.#left.get(r);
      if (left === undefined) continue;
      this.#left.set(r, left - 1);
      if (left === 1) done.push(r);
    }
    return done;
  }
}

/**
 * What a module call made and only its recorded graph holds (isInternal: a BatchNorm's input, a ReLU's output),
 * released once the pass is past the last rule reading it (its reads or what it saved), as PyTorch frees a saved
 * tensor with its graph node: the activations go as backward() walks down the network, not when the step's scope
 * ends.
 */
const consumedBy = (order: readonly Tensor[]): ReadersLeft =>
  new ReadersLeft(order, (node) => new Set([...(node?.reads ?? []), ...(node?.saved ?? [])]), isInternal);

/**
 * The released values one backward() pass computes again (recordRecompute): each just before the first rule that
 * reads it, released again once the pass is past the last.
 */
class Recomputed {
  readonly #readers: ReadersLeft;
  /** The tensors this pass computed again and holds now. */
  readonly #held = new Set<Tensor>();

  constructor(order: readonly Tensor[]) {
    this.#readers = new ReadersLeft(
      order,
      (node) => node?.reads ?? [],
      (r) => recipes.has(r),
    );
  }

  /** Computes again the released values the rule of `node` reads. */
  restore(node: GradNode): void {
    for (const r of node.reads) {
      if (!r.disposed || !isRecomputable(r)) continue;
      r.assign(scope(recipes.get(r)!));
      this.#held.add(r);
    }
  }

  /** The pass is past `node` (its rule ran or had no gradient to run on): releases what no later rule reads. */
  passed(node: GradNode | null): void {
    for (const r of this.#readers.passed(node)) if (this.#held.delete(r)) r.releaseValues();
  }
}

/**
 * Leaves accumulate gradients across backward() calls in place, as in PyTorch, so `.grad` stays the same
 * tensor; zeroGrad() clears them. A disposed `.grad` counts as cleared.
 */
function accumulateLeafGradient(leaf: Tensor, g: Tensor): void {
  if (leaf.grad === null || leaf.grad.disposed) leaf.grad = keep(g);
  else {
    const total = add(leaf.grad, g);
    g.dispose();
    leaf.grad.assign(total);
  }
  for (const hook of gradientHooks.get(leaf) ?? []) hook(leaf);
}

function sumAndDispose(a: Tensor, b: Tensor): Tensor {
  const sum = add(a, b);
  a.dispose();
  b.dispose();
  return sum;
}
