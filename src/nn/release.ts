/**
 * Releasing a forward's intermediate tensors as soon as they are consumed, where nothing will read them again: PyTorch
 * frees what nothing references, while a caller's scope() would hold them all until it ends. Under noGrad or in a
 * frozen stage that is every intermediate; where gradients are recorded, those no gradient rule reads (a BatchNorm's
 * output feeding a ReLU, which reads its own output; an addition's operands), so training keeps what PyTorch's graph
 * keeps with its in-place ReLUs and additions; and those backward() computes again (a ReLU's output after a
 * BatchNorm, read by the ReLU's rule and the next convolution's), which PyTorch keeps.
 */
import { isReadByBackward, isRecomputable } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/index.js';
import { isExposed, type Module } from './module.js';
import { BatchNorm } from './layers/normalization.js';

/**
 * Releases `t`, an intermediate the calling forward made and reads no more, which `consumer` was computed from,
 * unless a recorded gradient rule reads it and backward() cannot compute it again, it is a leaf of the graph, or a
 * hook, an observer or a module may hold it.
 */
export function releaseConsumed(t: Tensor, consumer: Tensor): void {
  if (t === consumer || isExposed(t)) return;
  const isLeaf = t.requiresGrad && t.node === null;
  if (isLeaf || (isReadByBackward(t) && !isRecomputable(t))) return;
  t.releaseValues();
}

/**
 * Calls the modules in turn, each on the previous one's output, releasing each output (never x) once consumed. A
 * training BatchNorm and the ReLU after it run as one call (BatchNorm.callWithRelu).
 */
export function callInTurn(x: Tensor, modules: Iterable<Module>): Tensor {
  const list = [...modules];
  let y = x;
  for (let i = 0; i < list.length; i++) {
    const module = list[i];
    const fused = module instanceof BatchNorm && module.fusesWithRelu(list[i + 1]);
    const next = fused ? module.callWithRelu(y) : module.call(y);
    if (fused) i++;
    if (y !== x) releaseConsumed(y, next);
    y = next;
  }
  return y;
}
