/**
 * What layers hold: the feature maps named modules produce for an input, a convolution's filters, and the dataset
 * patches that excite one unit most (Zeiler & Fergus 2014, fig. 2's top nine).
 */
import { ShapeError, ValueError, formatShape } from '../errors.js';
import { Conv2d, type Module } from '../nn/index.js';
import { noGrad, scope, tensor, type Tensor } from '../tensor/index.js';
import { findLayer, inspecting } from './layers.js';
import { receptiveBox, receptiveFieldOf } from './receptive-field.js';

/**
 * The outputs of the named modules for input x ([C, H, W] or a batch), by path, in evaluation mode without
 * gradients. A module called more than once (a shared ReLU) gives its last call's output.
 */
export function featureMaps(model: Module, x: Tensor, layers: readonly string[]): Map<string, Tensor> {
  const input = x.rank === 3 ? tensor(x.data(), [1, ...x.shape]) : x;
  const outputs = new Map<string, Tensor>();
  const removers = layers.map((path) =>
    findLayer(model, path).registerForwardHook((_module, _input, output) => {
      outputs.set(path, output);
    }),
  );
  try {
    // The scope releases every intermediate tensor but the captured outputs.
    inspecting(model, () =>
      noGrad(() =>
        scope(() => {
          model.call(input);
          return [...outputs.values()];
        }),
      ),
    );
  } finally {
    for (const remove of removers) remove();
  }
  const missing = layers.filter((path) => !outputs.has(path));
  if (missing.length > 0)
    throw new ValueError(
      `featureMaps: the forward pass did not call ${missing.map((p) => `'${p}'`).join(', ')}`,
    );
  return new Map(layers.map((path) => [path, outputs.get(path)!]));
}

/** A copy of a convolution's weight [outChannels, inChannels/groups, kH, kW]: its filters, one per output map. */
export function filters(model: Module, layer: string): Tensor {
  const module = findLayer(model, layer);
  if (!(module instanceof Conv2d))
    throw new ValueError(`filters: layer '${layer}' is a ${module.typeName}, not a convolution (Conv2d)`);
  return module.weight.detach();
}

/** Images by index, each [C, H, W] values ready for the model: a convnets Dataset after its transform fits. */
export interface ImageSource {
  readonly length: number;
  /** Image `index`: [C, H, W] values, row-major. */
  get(index: number): { image: Float32Array };
}

/** One of the images that excite a unit most. */
export interface TopActivation {
  /** The image's index in the source. */
  index: number;
  /** The unit's largest activation in that image, and where: [row, column] in the layer's map. */
  value: number;
  position: [number, number];
  /** The input region that position sees (its receptive field), clipped to the image. */
  box: { top: number; left: number; height: number; width: number };
}

/** The images' shape and how many run per forward pass. */
export interface TopActivationsOptions {
  /** [C, H, W] of the images. */
  inputShape: readonly [number, number, number];
  /** Images per forward pass; 64 by default. */
  batchSize?: number;
}

/**
 * The k images of `images` in which channel `unit` of `layer` responds most, with the position of its strongest
 * response and the receptive-field box there, strongest first (one entry per image, as Zeiler & Fergus).
 */
export function topActivations(
  model: Module,
  images: ImageSource,
  layer: string,
  unit: number,
  k: number,
  options: TopActivationsOptions,
): TopActivation[] {
  const { inputShape, batchSize = 64 } = options;
  const field = receptiveFieldOf(model, inputShape, layer);
  if (!Number.isInteger(k) || k < 1)
    throw new ValueError(`topActivations: k must be a positive integer, got ${k}`);
  const best: TopActivation[] = [];
  const imageSize = inputShape[1] * inputShape[2] * inputShape[0];
  for (let first = 0; first < images.length; first += batchSize) {
    const count = Math.min(batchSize, images.length - first);
    const batch = new Float32Array(count * imageSize);
    for (let b = 0; b < count; b++) {
      const { image } = images.get(first + b);
      if (image.length !== imageSize)
        throw new ShapeError(
          `topActivations: image ${first + b} has ${image.length} values, not ${formatShape(inputShape)}`,
        );
      batch.set(image, b * imageSize);
    }
    const maps = featureMaps(model, tensor(batch, [count, ...inputShape]), [layer]).get(layer)!;
    const [, channels, h, w] = maps.shape;
    if (!Number.isInteger(unit) || unit < 0 || unit >= channels) {
      maps.dispose();
      throw new ValueError(
        `topActivations: unit ${unit} is out of range: '${layer}' has ${channels} channels (0…${channels - 1})`,
      );
    }
    const values = maps.data();
    maps.dispose();
    for (let b = 0; b < count; b++) {
      const offset = (b * channels + unit) * h * w;
      let at = 0;
      for (let i = 1; i < h * w; i++) if (values[offset + i] > values[offset + at]) at = i;
      const position: [number, number] = [Math.floor(at / w), at % w];
      const box = receptiveBox(field, position, [inputShape[1], inputShape[2]]);
      best.push({ index: first + b, value: values[offset + at], position, box });
    }
    best.sort((a, b) => b.value - a.value || a.index - b.index);
    best.length = Math.min(best.length, k);
  }
  return best;
}
