/**
 * Keras applications' layer names mapped onto convnets' models (torchvision's keys): ResNet-50/101/152
 * (`keras.applications.resnet`), VGG-16/19 (`keras.applications.vgg16`, `vgg19`) and InceptionV3
 * (`keras.applications.inception_v3`). Which one a file holds is read from its layer names.
 */
import { FormatError } from '../../errors.js';
import { hasNumberedConvolutions, kerasInceptionV3 } from './inception-v3.js';

/** How a Keras layer's weights become a module's parameters. */
export type LayerKind =
  /**
   * Conv2D: kernel HWIO → OIHW; its bias, if the module has none, goes into the next BatchNorm (`foldBiasInto`).
   * `weight`, when given, is the OIHW shape the module's weight has, which the kernel must fit.
   */
  | { kind: 'conv'; module: string; foldBiasInto?: string; weight?: readonly number[] }
  /**
   * BatchNormalization: gamma, beta, moving_mean, moving_variance → weight, bias, running_mean, running_var. With
   * `scale: false` (Keras's `BatchNormalization(scale=False)`) the layer has no gamma and the weight is ones;
   * `channels`, when given, is the module's width, which every vector must have.
   */
  | { kind: 'batchnorm'; module: string; scale?: false; channels?: number }
  /**
   * Dense: kernel (in, out) → weight (out, in); after a Flatten of [C, H, W], its inputs go from HWC to CHW order.
   * `inputs`, when given, is the module's input width, which the kernel must have.
   */
  | { kind: 'dense'; module: string; flattened?: [number, number, number]; inputs?: number };

/** A Keras architecture: the convnets model it loads into, with the builder options that make it Keras's. */
export interface KerasArchitecture {
  /** The Keras application, as Keras names it: 'ResNet50', 'VGG16'. */
  keras: string;
  /** The registered convnets model. */
  model: string;
  /** Builder options that make convnets' model compute what Keras's does. */
  options: Record<string, unknown>;
  layers: Map<string, LayerKind>;
}

/** Keras's ResNet v1 puts a stage's stride 2 on the block's first 1×1 convolution and uses BatchNorm eps 1.001e-5. */
export const KERAS_RESNET_OPTIONS = { strideOn: '1x1', batchNormEps: 1.001e-5 } as const;

const RESNET_STAGES: Record<string, readonly number[]> = {
  ResNet50: [3, 4, 6, 3],
  ResNet101: [3, 4, 23, 3],
  ResNet152: [3, 8, 36, 3],
};

function resnet(keras: string): KerasArchitecture {
  const layers = new Map<string, LayerKind>([
    ['conv1_conv', { kind: 'conv', module: 'conv1', foldBiasInto: 'bn1' }],
    ['conv1_bn', { kind: 'batchnorm', module: 'bn1' }],
  ]);
  RESNET_STAGES[keras].forEach((blocks, stage) => {
    for (let block = 1; block <= blocks; block++) {
      const name = `conv${stage + 2}_block${block}`;
      const path = `layer${stage + 1}.${block - 1}`;
      const branches: [string, string, string][] = [1, 2, 3].map((i) => [`${i}`, `conv${i}`, `bn${i}`]);
      if (block === 1) branches.unshift(['0', 'downsample.0', 'downsample.1']);
      for (const [index, conv, bn] of branches) {
        layers.set(`${name}_${index}_conv`, {
          kind: 'conv',
          module: `${path}.${conv}`,
          foldBiasInto: `${path}.${bn}`,
        });
        layers.set(`${name}_${index}_bn`, { kind: 'batchnorm', module: `${path}.${bn}` });
      }
    }
  });
  layers.set('predictions', { kind: 'dense', module: 'fc' });
  return { keras, model: keras.toLowerCase(), options: { ...KERAS_RESNET_OPTIONS }, layers };
}

/** Convolutions per block of Keras's VGG16 and VGG19 (blocks 1–5; a max pool ends each). */
const VGG_BLOCKS: Record<string, readonly number[]> = {
  VGG16: [2, 2, 3, 3, 3],
  VGG19: [2, 2, 4, 4, 4],
};

function vgg(keras: string): KerasArchitecture {
  const layers = new Map<string, LayerKind>();
  let index = 0; // torchvision's features.N: a conv and its ReLU per convolution, a pool per block
  VGG_BLOCKS[keras].forEach((convs, block) => {
    for (let conv = 1; conv <= convs; conv++) {
      layers.set(`block${block + 1}_conv${conv}`, { kind: 'conv', module: `features.${index}` });
      index += 2;
    }
    index += 1;
  });
  // Keras flattens block5_pool's 7×7×512 output channels-last; torchvision's classifier.0 reads it channels-first.
  layers.set('fc1', { kind: 'dense', module: 'classifier.0', flattened: [512, 7, 7] });
  layers.set('fc2', { kind: 'dense', module: 'classifier.3' });
  layers.set('predictions', { kind: 'dense', module: 'classifier.6' });
  return { keras, model: keras.toLowerCase(), options: {}, layers };
}

/** The architecture whose layer names a file's layers are: every layer with weights must be one of its layers. */
export function kerasArchitecture(layerNames: readonly string[]): KerasArchitecture {
  const has = (name: string) => layerNames.includes(name);
  let found: KerasArchitecture | undefined;
  if (has('conv2_block1_preact_bn') || has('post_bn'))
    throw new FormatError('Keras: ResNetV2 (pre-activation) weights have no convnets model to load into');
  if (has('conv1_conv')) {
    const blocks = (stage: number) =>
      layerNames.filter((n) => new RegExp(`^conv${stage}_block\\d+_1_conv$`).test(n)).length;
    found = Object.keys(RESNET_STAGES)
      .map(resnet)
      .find((candidate) =>
        RESNET_STAGES[candidate.keras].every((count, stage) => blocks(stage + 2) === count),
      );
  } else if (has('block1_conv1')) {
    found = Object.keys(VGG_BLOCKS)
      .map(vgg)
      .find(
        (candidate) =>
          [...candidate.layers.keys()].filter((n) => n.startsWith('block')).every(has) &&
          layerNames.filter((n) => /^block\d_conv\d$/.test(n)).length ===
            VGG_BLOCKS[candidate.keras].reduce((a, b) => a + b),
      );
  } else if (hasNumberedConvolutions(layerNames)) {
    found = kerasInceptionV3(layerNames);
  }
  if (found === undefined) {
    const shown = layerNames
      .slice(0, 3)
      .map((n) => `'${n}'`)
      .join(', ');
    throw new FormatError(
      `Keras: layers ${shown}… are not those of a Keras application convnets maps (ResNet50/101/152, VGG16/19, InceptionV3)`,
    );
  }
  const unknown = layerNames.find((name) => !found.layers.has(name));
  if (unknown !== undefined)
    throw new FormatError(
      `Keras: layer '${unknown}' has no counterpart in ${found.keras} (convnets' ${found.model})`,
    );
  return found;
}
