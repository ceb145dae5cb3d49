import { ShapeError, formatShape } from '../../errors.js';
import { record } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { add } from './arithmetic.js';
import { backendOf, wrap } from './common.js';
import { reshape } from './shape.js';
import { checkOptions } from '../../options.js';

/** Options of matmul. */
export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

/**
 * Matrix product of rank-2 tensors, or of rank-3 batches of equal size, each optionally transposed first.
 * Transposes are folded into the kernel instead of materialised.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  checkOptions('matmul', options, { transposeA: true, transposeB: true });
  const transposeA = options.transposeA ?? false;
  const transposeB = options.transposeB ?? false;
  const batched = a.rank === 3;
  if (a.rank !== b.rank || (a.rank !== 2 && a.rank !== 3) || (batched && a.shape[0] !== b.shape[0])) {
    throw new ShapeError(
      `matmul: needs two rank-2 tensors or two rank-3 batches of one size, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`,
    );
  }
  const batch = batched ? a.shape[0] : 1;
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, k] = transposeA ? [ac, ar] : [ar, ac];
  const [k2, n] = transposeB ? [bc, br] : [br, bc];
  if (k !== k2) {
    throw new ShapeError(
      `matmul: inner dimensions differ: ${formatShape(a.shape)}${transposeA ? 'ᵀ' : ''} · ${formatShape(b.shape)}${transposeB ? 'ᵀ' : ''}`,
    );
  }
  const backend = backendOf('matmul', [a, b]);
  const shape = batched ? [batch, m, n] : [m, n];
  const y = wrap(
    backend.matmul(a.storage, b.storage, batch, m, k, n, transposeA, transposeB),
    shape,
    backend,
  );
  // For C = op(A)·op(B): dA = dC·op(B)ᵀ (transposed back when A was), dB likewise; none for an input that needs
  // none (a classifier head trained on frozen features needs no gradient of the features).
  return record(
    'matmul',
    y,
    [a, b],
    (dy) => [
      !a.requiresGrad
        ? null
        : transposeA
          ? matmul(b, dy, { transposeA: transposeB, transposeB: true })
          : matmul(dy, b, { transposeB: !transposeB }),
      !b.requiresGrad
        ? null
        : transposeB
          ? matmul(dy, a, { transposeA: true, transposeB: transposeA })
          : matmul(a, dy, { transposeA: !transposeA }),
    ],
    [],
    [a, b],
  );
}

/** y = x·Wᵀ + b with PyTorch's weight layout [outFeatures, inFeatures]; x is [N, inFeatures]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  if (x.rank !== 2 || weight.rank !== 2 || x.shape[1] !== weight.shape[1]) {
    throw new ShapeError(
      `linear: input ${formatShape(x.shape)} does not fit weight ${formatShape(weight.shape)} (expected [N, ${weight.shape[1]}])`,
    );
  }
  if (bias !== null && (bias.rank !== 1 || bias.size !== weight.shape[0])) {
    throw new ShapeError(
      `linear: bias ${formatShape(bias.shape)} does not match weight ${formatShape(weight.shape)} ` +
        `(expected [${weight.shape[0]}])`,
    );
  }
  const y = matmul(x, weight, { transposeB: true });
  return bias === null ? y : add(y, reshape(bias, [1, bias.size]));
}
