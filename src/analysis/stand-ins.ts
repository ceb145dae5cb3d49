import { getBackend } from '../backend/registry.js';
import type { Module } from '../nn/index.js';
import { zeros, type Tensor } from '../tensor/index.js';

interface Swapped {
  module: Module;
  kind: 'parameter' | 'buffer';
  name: string;
  original: Tensor;
  requiresGrad: boolean;
}

/**
 * Runs fn with every registered parameter and buffer of `model` replaced by a tensor of the same shape and dtype
 * on the active backend (summary runs it under the meta backend), then puts the originals back, also when fn
 * throws: the same tensor objects, under the same names, with their requiresGrad flags. The originals' values are
 * never read, so a model on any backend can be run for shapes. A tensor shared by several modules gets one
 * stand-in. Tensors a layer holds without registering them are not replaced.
 */
export function withStandIns<T>(model: Module, fn: () => T): T {
  const backend = getBackend();
  const standIns = new Map<Tensor, Tensor>();
  const swapped: Swapped[] = [];
  const standIn = (t: Tensor): Tensor => {
    let replacement = standIns.get(t);
    if (replacement === undefined) {
      replacement = zeros(t.shape, { dtype: t.dtype });
      standIns.set(t, replacement);
    }
    return replacement;
  };
  try {
    for (const module of model.modules()) {
      for (const [name, original] of module.namedParameters({ recurse: false })) {
        if (original.backend === backend) continue;
        swapped.push({ module, kind: 'parameter', name, original, requiresGrad: original.requiresGrad });
        module.registerParameter(name, standIn(original));
      }
      for (const [name, original] of module.namedBuffers({ recurse: false })) {
        if (original.backend === backend) continue;
        swapped.push({ module, kind: 'buffer', name, original, requiresGrad: original.requiresGrad });
        module.registerBuffer(name, standIn(original));
      }
    }
    return fn();
  } finally {
    for (const { module, kind, name, original, requiresGrad } of swapped.reverse()) {
      if (kind === 'parameter') module.registerParameter(name, original);
      else module.registerBuffer(name, original);
      // registerParameter marks a tensor trainable; a frozen one must stay frozen.
      original.requiresGrad = requiresGrad;
    }
    for (const t of standIns.values()) t.dispose();
  }
}
