import { ValueError, formatShape } from '../errors.js';
import { keep, scope } from './scope.js';
import type { GradNode, Tensor } from './tensor.js';
import { add } from './ops/arithmetic.js';
import { onesLike } from './creation.js';

let gradEnabled = true;

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

/**
 * Attaches the op's gradient rule to its output when gradients are being recorded and any input needs one.
 * `backward` maps dL/d(output) to dL/d(each input), null where an input needs none.
 */
export function record(
  op: string,
  output: Tensor,
  inputs: readonly Tensor[],
  backward: GradNode['backward'],
): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    output.requiresGrad = true;
    output.node = { op, inputs, backward };
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
    for (const input of t.node?.inputs ?? []) if (input.requiresGrad && !seen.has(input)) stack.push([input, false]);
  }
  return order.reverse();
}

export function runBackward(root: Tensor, grad: Tensor | undefined, retainGraph: boolean): void {
  if (!root.requiresGrad) throw new ValueError('backward(): the tensor does not require a gradient');
  if (grad === undefined && root.size !== 1) {
    throw new ValueError(`backward(): a gradient is needed for a non-scalar output ${formatShape(root.shape)}`);
  }
  if (grad !== undefined && grad.shape.join() !== root.shape.join()) {
    throw new ValueError(`backward(): gradient ${formatShape(grad.shape)} does not match output ${formatShape(root.shape)}`);
  }
  const grads = new Map<Tensor, Tensor>();
  noGrad(() => {
    grads.set(root, grad ?? onesLike(root));
    for (const t of reverseTopologicalOrder(root)) {
      const g = grads.get(t);
      if (g === undefined) continue;
      grads.delete(t);
      const node = t.node;
      if (node === null) {
        accumulateLeafGradient(t, g === grad ? g.detach() : g);
        continue;
      }
      // The scope releases the rule's temporaries; the gradients it returns survive.
      const inputGrads = scope(() => node.backward(g));
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
      if (!retainGraph) t.node = null;
    }
  });
}

/** Leaves accumulate gradients across backward() calls, as in PyTorch; zeroGrad() clears them. */
function accumulateLeafGradient(leaf: Tensor, g: Tensor): void {
  leaf.grad = keep(leaf.grad === null ? g : sumAndDispose(leaf.grad, g));
}

function sumAndDispose(a: Tensor, b: Tensor): Tensor {
  const sum = add(a, b);
  a.dispose();
  b.dispose();
  return sum;
}
