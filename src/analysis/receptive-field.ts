/**
 * Receptive fields: which input pixels one unit of a layer can see. Along a chain of convolutions and pools each
 * layer of kernel k (dilated: d·(k − 1) + 1), stride s and padding p grows the field by (k − 1)·jump, multiplies
 * the jump between neighbouring units by s and moves the first unit's centre by ((k − 1)/2 − p)·jump (Dumoulin &
 * Visin's arithmetic; Araujo et al., "Computing receptive fields of convolutional neural networks", 2019). Where
 * paths join (a residual addition, a concatenation), the widest field wins.
 */
import { withBackend } from '../backend/registry.js';
import { ValueError, formatShape } from '../errors.js';
import { AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d, observeCalls, type Module } from '../nn/index.js';
import { pool2dAttrs, scope, zeros, type Tensor } from '../tensor/index.js';
import { findLayer } from './layers.js';
import { withStandIns } from './stand-ins.js';
import { batchedInputShape } from './summary.js';

/** Per axis [height, width], in input pixels. */
export interface ReceptiveField {
  /** Side of the input region one unit sees. */
  size: [number, number];
  /** Input pixels between neighbouring units: the product of the strides so far. */
  jump: [number, number];
  /** Centre of the first unit's region (pixel centres are integers); below 0 where padding reaches past the edge. */
  start: [number, number];
}

/** What a convolution or pool does to positions, per axis [height, width]. */
export interface LayerGeometry {
  kernelSize: [number, number];
  stride: [number, number];
  /** Padding before the first row and column. */
  padding: [number, number];
  dilation: [number, number];
}

/** An input pixel: the field before any layer. */
export const PIXEL: ReceptiveField = { size: [1, 1], jump: [1, 1], start: [0, 0] };

/** The field after one more layer. */
export function compose(field: ReceptiveField, layer: LayerGeometry): ReceptiveField {
  const out: ReceptiveField = { size: [0, 0], jump: [0, 0], start: [0, 0] };
  for (const axis of [0, 1]) {
    const span = layer.dilation[axis] * (layer.kernelSize[axis] - 1);
    out.size[axis] = field.size[axis] + span * field.jump[axis];
    out.jump[axis] = field.jump[axis] * layer.stride[axis];
    out.start[axis] = field.start[axis] + (span / 2 - layer.padding[axis]) * field.jump[axis];
  }
  return out;
}

/** The field of the last layer of a chain of convolutions and pools. */
export function receptiveField(chain: readonly LayerGeometry[]): ReceptiveField {
  return chain.reduce(compose, PIXEL);
}

/**
 * The geometry of a Conv2d, MaxPool2d or AvgPool2d; an adaptive pool's from the sizes it maps between (its
 * widest bin); null for layers that keep positions where they are.
 */
export function layerGeometry(
  module: Module,
  inputShape: readonly number[],
  outputShape: readonly number[],
): LayerGeometry | null {
  if (module instanceof Conv2d) {
    const { kernelSize, stride, dilation } = module;
    const padding: [number, number] =
      module.padding === 'valid'
        ? [0, 0]
        : module.padding === 'same'
          ? ([0, 1].map((a) => Math.floor((dilation[a] * (kernelSize[a] - 1)) / 2)) as [number, number])
          : module.padding;
    return { kernelSize, stride, padding, dilation };
  }
  if (module instanceof MaxPool2d || module instanceof AvgPool2d) {
    const attrs = pool2dAttrs(module.kernelSize, module.options);
    return {
      kernelSize: [...attrs.kernel],
      stride: [...attrs.stride],
      padding: [attrs.padding[0], attrs.padding[2]],
      dilation: [1, 1],
    };
  }
  if (module instanceof AdaptiveAvgPool2d) {
    const [inH, inW] = inputShape.slice(2);
    const [outH, outW] = outputShape.slice(2);
    return {
      kernelSize: [Math.ceil(inH / outH), Math.ceil(inW / outW)],
      stride: [Math.floor(inH / outH), Math.floor(inW / outW)],
      padding: [0, 0],
      dilation: [1, 1],
    };
  }
  return null;
}

interface Positioned {
  module: Module;
  input: Tensor;
  output: Tensor;
}

const spatial = (t: Tensor): string => (t.rank === 4 ? t.shape.slice(2).join('×') : '');

/** Why a field could not be computed: an op, outside a known layer, that moved positions. */
class UnknownGeometry {
  constructor(readonly reason: string) {}
}

type Walked = ReceptiveField | UnknownGeometry | null;

/**
 * The receptive field of every module call whose output is a feature map [N, C, H, W], by dotted path ('' for the
 * model): the model runs once on the meta backend (shapes only, its own tensors untouched) with the input's
 * gradient recorded, and the recorded graph is walked back from each output to the input through every path.
 * `inputShape` is [C, H, W] or [N, C, H, W]. A path through an op outside a convolution or pooling layer that
 * changes the spatial size (a functional pool in a shortcut) is left out where another path reaches the same
 * tensor; a module whose every path does so is left out of the map (receptiveFieldOf names the op).
 */
export function receptiveFields(model: Module, inputShape: readonly number[]): Map<string, ReceptiveField> {
  const fields = new Map<string, ReceptiveField>();
  for (const [path, field] of walkModel(model, inputShape))
    if (!(field instanceof UnknownGeometry)) fields.set(path, field);
  return fields;
}

/** The receptive field of one layer; a path that does not exist, or whose field cannot be known, is one line. */
export function receptiveFieldOf(
  model: Module,
  inputShape: readonly number[],
  layer: string,
): ReceptiveField {
  const field = walkModel(model, inputShape).get(layer);
  if (field instanceof UnknownGeometry)
    throw new ValueError(`receptive field of '${layer}': ${field.reason}`);
  if (field === undefined) {
    findLayer(model, layer);
    throw new ValueError(`receptive field of '${layer}': the layer gives no feature maps [N, C, H, W]`);
  }
  return field;
}

function walkModel(
  model: Module,
  inputShape: readonly number[],
): Map<string, ReceptiveField | UnknownGeometry> {
  const shape = batchedInputShape(inputShape);
  const fields = new Map<string, ReceptiveField | UnknownGeometry>();
  const modes = model.modules().map((m): [Module, boolean] => [m, m.training]);
  try {
    withBackend('meta', () =>
      withStandIns(model, () =>
        scope(() => {
          // The flags, not eval(), which would also change the mode a frozen module takes back when unfrozen.
          for (const [module] of modes) module.training = false;
          const input = zeros(shape).requireGrad();
          const positioned = new Map<Tensor, Positioned>();
          const calls: { path: string; output: Tensor }[] = [];
          const stop = observeCalls(({ module, path, input: x, output }) => {
            const own = positioned.get(output);
            // A container handing on its last child's output must not hide that child's geometry.
            if (own === undefined || layerGeometry(own.module, own.input.shape, own.output.shape) === null)
              positioned.set(output, { module, input: x, output });
            if (output.rank === 4) calls.push({ path, output });
          });
          try {
            model.call(input);
          } finally {
            stop();
          }
          const fieldOf = fieldWalker(input, positioned);
          for (const { path, output } of calls) {
            const field = fieldOf(output);
            const known = fields.get(path);
            if (field === null) continue;
            // A shared module (a ReLU called twice) keeps the widest field of its calls.
            if (known === undefined || known instanceof UnknownGeometry || widest(known, field) === field)
              fields.set(path, field);
          }
        }),
      ),
    );
  } finally {
    for (const [module, training] of modes) module.training = training;
  }
  return fields;
}

/** Of two walked fields, the known one, or the wider of two known ones. */
function widest(
  a: ReceptiveField | UnknownGeometry,
  b: ReceptiveField | UnknownGeometry,
): ReceptiveField | UnknownGeometry {
  if (a instanceof UnknownGeometry) return b;
  if (b instanceof UnknownGeometry) return a;
  return b.size[0] > a.size[0] ? b : a;
}

/** A memoised walk from a tensor back to the input; null for tensors the input does not reach (parameters). */
function fieldWalker(input: Tensor, positioned: Map<Tensor, Positioned>): (t: Tensor) => Walked {
  const memo = new Map<Tensor, Walked>();
  const fieldOf = (t: Tensor): Walked => {
    if (t === input) return PIXEL;
    if (memo.has(t)) return memo.get(t)!;
    let field: Walked = null;
    const call = positioned.get(t);
    const geometry = call && layerGeometry(call.module, call.input.shape, call.output.shape);
    if (call !== undefined && geometry) {
      const before = fieldOf(call.input);
      field = before instanceof UnknownGeometry || before === null ? before : compose(before, geometry);
    } else if (t.node !== null) {
      for (const source of t.node.inputs) {
        let candidate = fieldOf(source);
        if (candidate === null) continue;
        const broadcast = source.rank === 4 && source.shape[2] === 1 && source.shape[3] === 1;
        if (t.rank === 4 && source.rank === 4 && spatial(source) !== spatial(t) && !broadcast) {
          candidate = new UnknownGeometry(
            `${t.node.op} turns ${formatShape(source.shape)} into ${formatShape(t.shape)} outside a Conv2d or ` +
              'pooling layer, whose geometry is unknown',
          );
        }
        field = field === null ? candidate : widest(field, candidate);
      }
    }
    memo.set(t, field);
    return field;
  };
  return fieldOf;
}

/** The input region, clipped to an image of [height, width], that the unit at [row, column] of a layer sees. */
export function receptiveBox(
  field: ReceptiveField,
  unit: readonly [number, number],
  imageSize: readonly [number, number],
): { top: number; left: number; height: number; width: number } {
  const [top, left] = [0, 1].map((a) => {
    const first = Math.round(field.start[a] + unit[a] * field.jump[a] - (field.size[a] - 1) / 2);
    return Math.max(0, first);
  });
  const [bottom, right] = [0, 1].map((a) => {
    const last = Math.round(field.start[a] + unit[a] * field.jump[a] + (field.size[a] - 1) / 2);
    return Math.min(imageSize[a] - 1, last);
  });
  return { top, left, height: bottom - top + 1, width: right - left + 1 };
}
