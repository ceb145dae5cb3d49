/**
 * Releasing a forward's intermediate tensors as soon as they are consumed, where no recorded graph needs them (a
 * frozen stage, a call under noGrad): PyTorch frees them once nothing references them, while a caller's scope()
 * would hold them all until it ends. Where gradients are recorded nothing is released early: backward reads them.
 */
import type { Tensor } from '../tensor/index.js';
import { isExposed, type Module } from './module.js';

/**
 * Releases `t`, an intermediate the calling forward made and reads no more, which `consumer` was computed from,
 * unless a graph may need it (either records one) or a hook, an observer or a module may hold it.
 */
export function releaseConsumed(t: Tensor, consumer: Tensor): void {
  if (t === consumer || t.requiresGrad || t.node !== null || consumer.node !== null || isExposed(t)) return;
  t.dispose();
}

/** Calls the modules in turn, each on the previous one's output, releasing each output (never x) once consumed. */
export function callInTurn(x: Tensor, modules: Iterable<Module>): Tensor {
  let y = x;
  for (const module of modules) {
    const next = module.call(y);
    if (y !== x) releaseConsumed(y, next);
    y = next;
  }
  return y;
}
