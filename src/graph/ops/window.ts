/**
 * Sliding windows (convolution, pooling): their attributes read and checked at import, and resolved per input at
 * run time (SAME padding depends on the input's size). What a window makes is checked against the budget before it
 * is allocated (budget.ts): at import where the pads alone decide, else per input.
 */
import { formatShape } from '../../errors.js';
import type { Tensor } from '../../tensor/index.js';
import { checkAtLeast, checkSizeIntegers, checkValueSize } from './budget.js';
import { type OpContext, malformed, product, unsupported } from './context.js';

/** A sliding window's attributes as the node gives them (read at import, so unread-attribute checks see them). */
export interface WindowAttributes {
  autoPad: string;
  pads: number[] | undefined;
  strides: number[] | undefined;
  dilations: number[] | undefined;
}

/** Reads a window's attributes, each value an integer a typed array can hold (pads ≥ 0, strides and dilations ≥ 1). */
export function readWindow(ctx: OpContext, withDilations: boolean): WindowAttributes {
  const autoPad = ctx.attrs.string('auto_pad', 'NOTSET');
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) {
    unsupported(ctx, `auto_pad '${autoPad}'`, `auto_pad ${autoPad}`);
  }
  const window = {
    autoPad,
    pads: ctx.attrs.ints('pads'),
    strides: ctx.attrs.ints('strides'),
    dilations: withDilations ? ctx.attrs.ints('dilations') : undefined,
  };
  checkSizeIntegers(ctx, "attribute 'pads'", window.pads ?? [], 0);
  checkSizeIntegers(ctx, "attribute 'strides'", window.strides ?? [], 1);
  checkSizeIntegers(ctx, "attribute 'dilations'", window.dilations ?? [], 1);
  return window;
}

/**
 * At import, where the pads are attributes: the output a window makes with them holds at least this many elements,
 * whatever the input (its extent taken as 0), with `channels` output channels where the file fixes them.
 */
export function checkWindowAtImport(
  ctx: OpContext,
  a: WindowAttributes,
  kernel: readonly number[],
  channels: number,
): void {
  const rank = kernel.length;
  if (a.autoPad !== 'NOTSET' || a.pads === undefined || a.pads.length !== 2 * rank) return;
  const pads = a.pads;
  const stride = a.strides?.length === rank ? a.strides : kernel.map(() => 1);
  const dilation = a.dilations?.length === rank ? a.dilations : kernel.map(() => 1);
  const extents = kernel.map((k, i) => {
    const span = pads[i] + pads[rank + i] - dilation[i] * (k - 1) - 1;
    return span < 0 ? 1 : Math.floor(span / stride[i]) + 1;
  });
  checkAtLeast(ctx, channels * product(extents), 'tensor', `attribute 'pads' [${pads.join(', ')}]`);
}

export interface Window {
  stride: number[];
  dilation: number[];
  /** [begin, end] per spatial axis. */
  pads: [number, number][];
}

function positiveList(ctx: OpContext, name: string, given: number[] | undefined, rank: number): number[] {
  const values = given ?? new Array<number>(rank).fill(1);
  if (values.length !== rank || values.some((v) => !Number.isInteger(v) || v < 1)) {
    malformed(ctx, `${name} [${values.join(', ')}] must be ${rank} positive integers`);
  }
  return values;
}

/**
 * Strides, dilations and padding for an input of the given spatial size and a kernel. SAME_UPPER/SAME_LOWER pad so
 * that output = ceil(input / stride), the odd element at the end (UPPER) or the start (LOWER); VALID pads
 * nothing; NOTSET uses pads [x1_begin, x2_begin, …, x1_end, …].
 */
export function resolveWindow(
  ctx: OpContext,
  a: WindowAttributes,
  spatial: readonly number[],
  kernel: readonly number[],
): Window {
  const rank = spatial.length;
  const stride = positiveList(ctx, 'strides', a.strides, rank);
  const dilation = positiveList(ctx, 'dilations', a.dilations, rank);
  if (a.autoPad === 'NOTSET') {
    const values = a.pads ?? new Array<number>(2 * rank).fill(0);
    if (values.length !== 2 * rank || values.some((p) => !Number.isInteger(p) || p < 0)) {
      malformed(ctx, `pads [${values.join(', ')}] must be ${2 * rank} non-negative integers`);
    }
    return { stride, dilation, pads: values.slice(0, rank).map((begin, i) => [begin, values[rank + i]]) };
  }
  if (a.autoPad === 'VALID') return { stride, dilation, pads: spatial.map(() => [0, 0]) };
  const pads = spatial.map((size, i): [number, number] => {
    const out = Math.ceil(size / stride[i]);
    const total = Math.max(0, (out - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1 - size);
    const small = Math.floor(total / 2);
    return a.autoPad === 'SAME_UPPER' ? [small, total - small] : [total - small, small];
  });
  return { stride, dilation, pads };
}

/**
 * Checks, before a window runs, the output it gives (`spatial`, with `channels` channels) and, where `copied`, the
 * copy of x its padding makes: both named by the attributes that sized them.
 */
export function checkWindowValues(
  ctx: OpContext,
  a: WindowAttributes,
  x: Tensor,
  pads: readonly (readonly [number, number])[],
  output: { channels: number; spatial: readonly number[] },
  copied: boolean,
): void {
  const given = a.autoPad === 'NOTSET' ? (a.pads ?? []) : pads.flat();
  const what = a.autoPad === 'NOTSET' ? "attribute 'pads'" : `auto_pad ${a.autoPad}'s pads`;
  const strides = a.strides ? `, strides [${a.strides.join(', ')}]` : '';
  const cause = `${what} [${given.join(', ')}]${strides} on input ${formatShape(x.shape)}`;
  // An empty window is the kernel's to refuse, with its own message.
  if (output.spatial.every((n) => n > 0))
    checkValueSize(ctx, [x.shape[0], output.channels, ...output.spatial], 'tensor', cause);
  if (copied) {
    const first = x.rank - pads.length;
    const padded = x.shape.map((n, d) => (d < first ? n : n + pads[d - first][0] + pads[d - first][1]));
    checkValueSize(ctx, padded, 'tensor', `${cause} (the padded input)`);
  }
}
