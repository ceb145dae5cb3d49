import type { Pool2dAttrs, PoolKind } from '../../backend/backend.js';
import { pool2dOutputShape } from '../../backend/shapes.js';
import { ShapeError, ValueError, formatShape } from '../../errors.js';
import { record, willRecord } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { backendOf, pair, wrap } from './common.js';
import type { Pair } from './conv.js';
import { checkOptions } from '../../options.js';

/** Options of maxPool2d and avgPool2d. */
export interface Pool2dOptions {
  /** Defaults to the kernel size, as in PyTorch. */
  stride?: Pair;
  /** A number, a pair, or 'same': stride-1 pooling that keeps the size, as GoogLeNet's Inception branches use. */
  padding?: Pair | 'same';
  ceilMode?: boolean;
  /** Average pooling: count padded zeros in the divisor (PyTorch's default, true). */
  countIncludePad?: boolean;
}

/** The kernel's attributes from user-facing options; `op` names the pooling in errors. */
export function pool2dAttrs(kernelSize: Pair, options: Pool2dOptions = {}, op = 'pool2d'): Pool2dAttrs {
  checkOptions(op, options, { stride: true, padding: true, ceilMode: true, countIncludePad: true });
  const kernel = pair(kernelSize);
  const stride = pair(options.stride ?? kernel);
  if ([...kernel, ...stride].some((v) => !Number.isInteger(v) || v < 1)) {
    throw new ShapeError(
      `${op}: kernel size [${kernel.join(', ')}] and stride [${stride.join(', ')}] must be positive integers`,
    );
  }
  let padding: [number, number, number, number];
  if (options.padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw new ValueError(`${op}: padding 'same' needs stride 1`);
    const before = kernel.map((k) => Math.floor((k - 1) / 2));
    padding = [before[0], kernel[0] - 1 - before[0], before[1], kernel[1] - 1 - before[1]];
  } else {
    const [ph, pw] = pair(options.padding ?? 0);
    padding = [ph, ph, pw, pw];
  }
  return {
    kernel,
    stride,
    padding,
    ceilMode: options.ceilMode ?? false,
    countIncludePad: options.countIncludePad ?? true,
  };
}

function pool2d(kind: PoolKind, x: Tensor, kernelSize: Pair, options: Pool2dOptions): Tensor {
  const op = `${kind}Pool2d`;
  const attrs = pool2dAttrs(kernelSize, options, op);
  const shape = pool2dOutputShape(x.shape, attrs, op);
  const backend = backendOf(op, [x]);
  const { y, workspace } = backend.pool2d(kind, x.storage, x.shape, attrs, willRecord([x]));
  // Max pooling's argmax is held as a tensor so scopes and the garbage collector release it like any other.
  const argmax =
    workspace === null ? null : new Tensor(workspace, [workspace.size], workspace.dtype, backend);
  return record(
    op,
    wrap(y, shape, backend),
    [x],
    (dy) => [
      wrap(
        backend.pool2dBackward(kind, dy.storage, dy.shape, x.shape, attrs, argmax?.storage ?? null),
        x.shape,
        backend,
      ),
    ],
    argmax === null ? [] : [argmax],
    [],
  );
}

/** Max pooling over NCHW input, as PyTorch's F.max_pool2d. */
export function maxPool2d(x: Tensor, kernelSize: Pair, options: Pool2dOptions = {}): Tensor {
  return pool2d('max', x, kernelSize, options);
}

/** Average pooling over NCHW input, as PyTorch's F.avg_pool2d. */
export function avgPool2d(x: Tensor, kernelSize: Pair, options: Pool2dOptions = {}): Tensor {
  return pool2d('avg', x, kernelSize, options);
}

/** Averages over PyTorch's adaptive bins so the output is exactly outH × outW. */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  if (x.rank !== 4)
    throw new ShapeError(`adaptiveAvgPool2d expects a 4-D input [N, C, H, W], got ${formatShape(x.shape)}`);
  const size = pair(outputSize);
  if (size.some((s) => !Number.isInteger(s) || s < 1))
    throw new ValueError(`adaptiveAvgPool2d: bad output size ${size}`);
  const backend = backendOf('adaptiveAvgPool2d', [x]);
  const shape = [x.shape[0], x.shape[1], size[0], size[1]];
  const y = wrap(backend.adaptiveAvgPool2d(x.storage, x.shape, size), shape, backend);
  return record('adaptiveAvgPool2d', y, [x], (dy) => [
    wrap(backend.adaptiveAvgPool2dBackward(dy.storage, dy.shape, x.shape), x.shape, backend),
  ]);
}
