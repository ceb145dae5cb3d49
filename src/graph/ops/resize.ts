/**
 * Resize (opset 11 on) as convnets' interpolate: 4-D inputs resampled over H and W, in PyTorch's two modes. Nearest
 * with 'asymmetric' coordinates and 'floor' rounding, and linear with 'half_pixel' coordinates (or
 * 'pytorch_half_pixel' to outputs wider than one pixel, where the two agree); other modes and coordinate rules are
 * not supported. Sizes and scales may be computed at run time (an export with a dynamic batch builds its sizes);
 * scales must give whole sizes, where ONNX's rule and convnets' (in / out) coincide.
 */
import type { ResizeMode, Storage } from '../../backend/backend.js';
import { formatShape } from '../../errors.js';
import { interpolate } from '../../tensor/index.js';
import { IntValues, type Value } from '../values.js';
import { checkValueSize } from './budget.js';
import { type OpContext, type OpFactory, floatInput, malformed, toInts, unsupported } from './context.js';

function modeOf(ctx: OpContext): { mode: ResizeMode; widerThanOne: boolean } {
  const mode = ctx.attrs.string('mode', 'nearest');
  const coordinates = ctx.attrs.string('coordinate_transformation_mode', 'half_pixel');
  // Neither changes a result of the two modes read here: extrapolation applies to tf_crop_and_resize only.
  ctx.attrs.ignore('cubic_coeff_a', 'extrapolation_value');
  if (ctx.attrs.int('exclude_outside', 0) !== 0)
    unsupported(ctx, 'exclude_outside 1', 'Resize exclude_outside');
  if (ctx.attrs.int('antialias', 0) !== 0) unsupported(ctx, 'antialias 1', 'Resize antialias');
  if (mode === 'nearest') {
    const rounding = ctx.attrs.string('nearest_mode', 'round_prefer_floor');
    if (coordinates !== 'asymmetric' || rounding !== 'floor') {
      unsupported(
        ctx,
        `nearest with ${coordinates} coordinates and ${rounding} rounding`,
        'Resize nearest mode',
      );
    }
    return { mode: 'nearest', widerThanOne: false };
  }
  // Rounding applies to nearest only (PyTorch writes it on every Resize).
  ctx.attrs.ignore('nearest_mode');
  if (mode === 'linear' && (coordinates === 'half_pixel' || coordinates === 'pytorch_half_pixel')) {
    return { mode: 'bilinear', widerThanOne: coordinates === 'pytorch_half_pixel' };
  }
  return unsupported(ctx, `mode ${mode} with ${coordinates} coordinates`, `Resize ${mode} ${coordinates}`);
}

/** Scales read from tensors, by storage: read once, so that replays of a graph with constant scales read nothing. */
const scalesRead = new WeakMap<Storage, number[]>();

function scalesOf(v: Value): number[] {
  if (v instanceof IntValues) return [...v.values];
  let scales = scalesRead.get(v.storage);
  if (scales === undefined) {
    scales = Array.from(v.data());
    scalesRead.set(v.storage, scales);
  }
  return scales;
}

/** The output size scales give: whole sizes only, where ONNX's rule and convnets' (in / out) coincide. */
function scaledSize(ctx: OpContext, shape: readonly number[], scales: readonly number[]): number[] {
  if (scales.length !== shape.length)
    malformed(ctx, `${scales.length} scales for input ${formatShape(shape)}`);
  return shape.map((d, i) => {
    const size = d * scales[i];
    if (!Number.isInteger(size)) {
      unsupported(
        ctx,
        `scale ${scales[i]} of a ${d}-pixel axis (not a whole size)`,
        'Resize fractional scales',
      );
    }
    return size;
  });
}

const resize: OpFactory = (ctx) => {
  if (ctx.opset < 11) unsupported(ctx, `Resize of opset ${ctx.opset}`, 'Resize before opset 11');
  if (ctx.attrs.ints('axes') !== undefined) unsupported(ctx, 'attribute axes', 'Resize axes');
  if (ctx.attrs.string('keep_aspect_ratio_policy', 'stretch') !== 'stretch') {
    unsupported(ctx, 'keep_aspect_ratio_policy', 'Resize keep_aspect_ratio_policy');
  }
  const { mode, widerThanOne } = modeOf(ctx);
  return (inputs) => {
    const x = floatInput(ctx, inputs, 0, 'X');
    if (x.rank !== 4)
      unsupported(ctx, `input ${formatShape(x.shape)} (only [N, C, H, W])`, 'Resize of rank ≠ 4');
    const sizes = inputs[3] ?? null;
    const scales = inputs[2] ?? null;
    const out =
      sizes !== null
        ? [...toInts(ctx, sizes, 'input 4 (sizes)').values]
        : scales !== null && scales.size > 0
          ? scaledSize(ctx, x.shape, scalesOf(scales))
          : malformed(ctx, 'neither scales nor sizes are given');
    if (out.length !== 4 || out.some((d) => !Number.isInteger(d) || d < 1)) {
      malformed(ctx, `output size [${out.join(', ')}] for input ${formatShape(x.shape)}`);
    }
    checkValueSize(
      ctx,
      out,
      'tensor',
      `${sizes !== null ? 'sizes' : 'scales'} on input ${formatShape(x.shape)}`,
    );
    if (out[0] !== x.shape[0] || out[1] !== x.shape[1]) {
      unsupported(ctx, `resizing N or C (${formatShape(x.shape)} → [${out.join(', ')}])`, 'Resize of N or C');
    }
    if (widerThanOne && (out[2] === 1 || out[3] === 1)) {
      unsupported(ctx, 'pytorch_half_pixel to a one-pixel output', 'Resize pytorch_half_pixel to one pixel');
    }
    return [interpolate(x, { size: [out[2], out[3]], mode })];
  };
};

export const resizeOps: Record<string, OpFactory> = { Resize: resize };
