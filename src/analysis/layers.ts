/**
 * What every explanation shares: naming a layer by its dotted path, the default layer, one image at a time, and
 * running a model for inspection without leaving a trace on it (evaluation mode, no parameter gradients).
 */
import { ShapeError, ValueError, formatShape } from '../errors.js';
import { Conv2d, type Module } from '../nn/index.js';
import { reshape, slice, sum, type Tensor } from '../tensor/index.js';

/** The sub-module at a dotted path; a path that does not exist is one line listing the paths that do. */
export function findLayer(model: Module, path: string): Module {
  const found = model.namedModules().find(([p]) => p === path && p !== '');
  if (found !== undefined) return found[1];
  const paths = model
    .namedModules()
    .map(([p]) => p)
    .filter((p) => p !== '');
  throw new ValueError(
    `${model.typeName} has no layer '${path}'; its layers are: ${paths.length > 0 ? paths.join(', ') : 'none'}`,
  );
}

/** The path of the last Conv2d in the model's module order: where Grad-CAM looks when no layer is named. */
export function lastConvolution(model: Module): string {
  const convolutions = model.namedModules().filter(([, m]) => m instanceof Conv2d);
  if (convolutions.length === 0)
    throw new ValueError(
      `${model.typeName} has no convolution (Conv2d): there are no feature maps to explain`,
    );
  return convolutions[convolutions.length - 1][0];
}

/** One image as a batch of one: [C, H, W] or [1, C, H, W]; anything else is refused by name. */
export function asSingleImage(op: string, x: Tensor): Tensor {
  if (x.rank === 3) return reshape(x, [1, ...x.shape]);
  if (x.rank === 4 && x.shape[0] === 1) return x;
  throw new ShapeError(`${op}: expects one image [C, H, W] or [1, C, H, W], got ${formatShape(x.shape)}`);
}

/**
 * Runs fn with the model in evaluation mode and every parameter frozen (so backward() leaves no .grad on the
 * model), then restores each module's mode and each parameter's flag, also when fn throws.
 */
export function inspecting<T>(model: Module, fn: () => T): T {
  const modes = model.modules().map((m): [Module, boolean] => [m, m.training]);
  const flags = model.parameters().map((p): [Tensor, boolean] => [p, p.requiresGrad]);
  try {
    // The flags directly, not eval(): that would also change the mode train() last asked for, which a frozen
    // module takes back when unfrozen.
    for (const [module] of modes) module.training = false;
    for (const [p] of flags) p.requireGrad(false);
    return fn();
  } finally {
    for (const [module, training] of modes) module.training = training;
    for (const [p, flag] of flags) p.requireGrad(flag);
  }
}

/** The class an explanation is for: the one asked, checked against the logits, or the top class. */
export function chooseTarget(op: string, logits: Tensor, target: number | undefined): number {
  if (logits.rank !== 2 || logits.shape[0] !== 1)
    throw new ShapeError(
      `${op}: expects the model to return logits [1, classes], got ${formatShape(logits.shape)}`,
    );
  const classes = logits.shape[1];
  if (target === undefined) return argmaxOf(logits);
  if (!Number.isInteger(target) || target < 0 || target >= classes)
    throw new ValueError(
      `${op}: target class ${target} is out of range: the model has ${classes} classes (0…${classes - 1})`,
    );
  return target;
}

/** The index of the largest value of a small tensor (the first one on ties, as torch.argmax). */
export function argmaxOf(t: Tensor): number {
  const values = t.data();
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** logits[0, target] as a one-element tensor that back-propagates. */
export function classScore(logits: Tensor, target: number): Tensor {
  return sum(slice(logits, [0, target], [1, 1]));
}
