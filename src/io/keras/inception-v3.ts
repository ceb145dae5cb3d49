/**
 * Keras's InceptionV3 (`keras.applications.inception_v3`) onto convnets' inception_v3, torchvision's keys. Keras
 * names none of its layers: each conv2d_bn call makes a Conv2D (no bias) and a BatchNormalization (scale=False: no
 * gamma), numbered by Keras's per-class counter in creation order: `conv2d_1` … `conv2d_94` in Keras 2's files,
 * `conv2d`, `conv2d_1` … `conv2d_93` in tf.keras's, higher numbers when the session had built layers before. The
 * file lists its layers in another order (by depth in the graph), so the n-th convolution is the n-th by number.
 */
import { FormatError } from '../../errors.js';
import type { KerasArchitecture, LayerKind } from './architectures.js';

/**
 * Builder options that make convnets' inception_v3 compute Keras's network: no auxiliary head (Keras has none), the
 * input taken as it is (Keras's preprocessing already gives [−1, 1]), and average pooling branches that average over
 * the pixels inside the image (TensorFlow's 'same' pooling) where torchvision counts the padding.
 */
export const KERAS_INCEPTION_V3_OPTIONS = {
  auxLogits: false,
  transformInput: false,
  poolCountIncludePad: false,
} as const;

/** A BasicConv2d of torchvision's InceptionV3: its name in its block, and its weight's shape [out, in, kh, kw]. */
type Conv = [
  name: string,
  outChannels: number,
  inChannels: number,
  kernelHeight: number,
  kernelWidth: number,
];

// Each block lists torchvision's BasicConv2d modules in the order its __init__ creates them (its state_dict order),
// which is the order of the conv2d_bn calls in Keras's inception_v3.py (keras-applications, and Keras 2's
// keras/applications, the same graph), checked there branch by branch, kernel (rows, cols) and widths included.

/** Keras: 3×3/2 valid 32, 3×3 valid 32, 3×3 same 64, max pool, 1×1 80, 3×3 valid 192, max pool. */
const STEM: Conv[] = [
  ['Conv2d_1a_3x3', 32, 3, 3, 3],
  ['Conv2d_2a_3x3', 32, 32, 3, 3],
  ['Conv2d_2b_3x3', 64, 32, 3, 3],
  ['Conv2d_3b_1x1', 80, 64, 1, 1],
  ['Conv2d_4a_3x3', 192, 80, 3, 3],
];

/** Keras's mixed0–2: branch1x1 64; branch5x5 1×1 48, 5×5 64; branch3x3dbl 1×1 64, 3×3 96, 3×3 96; pool, 1×1. */
const inceptionA = (inChannels: number, poolFeatures: number): Conv[] => [
  ['branch1x1', 64, inChannels, 1, 1],
  ['branch5x5_1', 48, inChannels, 1, 1],
  ['branch5x5_2', 64, 48, 5, 5],
  ['branch3x3dbl_1', 64, inChannels, 1, 1],
  ['branch3x3dbl_2', 96, 64, 3, 3],
  ['branch3x3dbl_3', 96, 96, 3, 3],
  ['branch_pool', poolFeatures, inChannels, 1, 1],
];

/** Keras's mixed3: branch3x3 3×3/2 384; branch3x3dbl 1×1 64, 3×3 96, 3×3/2 96; max pool. */
const INCEPTION_B: Conv[] = [
  ['branch3x3', 384, 288, 3, 3],
  ['branch3x3dbl_1', 64, 288, 1, 1],
  ['branch3x3dbl_2', 96, 64, 3, 3],
  ['branch3x3dbl_3', 96, 96, 3, 3],
];

/**
 * Keras's mixed4–7 (c = 128, 160, 160, 192): branch1x1 192; branch7x7 1×1 c, 1×7 c, 7×1 192; branch7x7dbl 1×1 c,
 * 7×1 c, 1×7 c, 7×1 c, 1×7 192; pool, 1×1 192. conv2d_bn(x, filters, num_row, num_col): 1×7 is one row, seven columns.
 */
const inceptionC = (c: number): Conv[] => [
  ['branch1x1', 192, 768, 1, 1],
  ['branch7x7_1', c, 768, 1, 1],
  ['branch7x7_2', c, c, 1, 7],
  ['branch7x7_3', 192, c, 7, 1],
  ['branch7x7dbl_1', c, 768, 1, 1],
  ['branch7x7dbl_2', c, c, 7, 1],
  ['branch7x7dbl_3', c, c, 1, 7],
  ['branch7x7dbl_4', c, c, 7, 1],
  ['branch7x7dbl_5', 192, c, 1, 7],
  ['branch_pool', 192, 768, 1, 1],
];

/** Keras's mixed8: branch3x3 1×1 192, 3×3/2 320; branch7x7x3 1×1 192, 1×7 192, 7×1 192, 3×3/2 192; max pool. */
const INCEPTION_D: Conv[] = [
  ['branch3x3_1', 192, 768, 1, 1],
  ['branch3x3_2', 320, 192, 3, 3],
  ['branch7x7x3_1', 192, 768, 1, 1],
  ['branch7x7x3_2', 192, 192, 1, 7],
  ['branch7x7x3_3', 192, 192, 7, 1],
  ['branch7x7x3_4', 192, 192, 3, 3],
];

/**
 * Keras's mixed9 and mixed10: branch1x1 320; branch3x3 1×1 384, then 1×3 and 3×1 384 side by side; branch3x3dbl
 * 1×1 448, 3×3 384, then 1×3 and 3×1 384; pool, 1×1 192.
 */
const inceptionE = (inChannels: number): Conv[] => [
  ['branch1x1', 320, inChannels, 1, 1],
  ['branch3x3_1', 384, inChannels, 1, 1],
  ['branch3x3_2a', 384, 384, 1, 3],
  ['branch3x3_2b', 384, 384, 3, 1],
  ['branch3x3dbl_1', 448, inChannels, 1, 1],
  ['branch3x3dbl_2', 384, 448, 3, 3],
  ['branch3x3dbl_3a', 384, 384, 1, 3],
  ['branch3x3dbl_3b', 384, 384, 3, 1],
  ['branch_pool', 192, inChannels, 1, 1],
];

const BLOCKS: [block: string | null, convs: Conv[]][] = [
  [null, STEM],
  ['Mixed_5b', inceptionA(192, 32)],
  ['Mixed_5c', inceptionA(256, 64)],
  ['Mixed_5d', inceptionA(288, 64)],
  ['Mixed_6a', INCEPTION_B],
  ['Mixed_6b', inceptionC(128)],
  ['Mixed_6c', inceptionC(160)],
  ['Mixed_6d', inceptionC(160)],
  ['Mixed_6e', inceptionC(192)],
  ['Mixed_7a', INCEPTION_D],
  ['Mixed_7b', inceptionE(1280)],
  ['Mixed_7c', inceptionE(2048)],
];

/** Every BasicConv2d of torchvision's InceptionV3 without its auxiliary head, in creation order: 94. */
const CONVS = BLOCKS.flatMap(([block, convs]) =>
  convs.map(([name, ...weight]) => ({ path: block === null ? name : `${block}.${name}`, weight })),
);

/** Keras's automatic name of the n-th layer of a class: `conv2d` for 0 (tf.keras's first), else `conv2d_n`. */
const autoName = (prefix: string, number: number) => (number === 0 ? prefix : `${prefix}_${number}`);

/** A file's layers named `prefix` or `prefix_n`, ordered by n (no suffix is 0), which must run without gaps. */
function numbered(layerNames: readonly string[], prefix: string, what: string): string[] {
  const pattern = new RegExp(`^${prefix}(?:_(\\d+))?$`);
  const found = layerNames
    .map((name) => ({ name, match: pattern.exec(name) }))
    .filter(({ match }) => match !== null)
    .map(({ name, match }) => ({ name, number: match?.[1] === undefined ? 0 : Number(match[1]) }))
    .sort((a, b) => a.number - b.number);
  // One model's layers of a class take consecutive numbers: a gap is a layer missing from the file.
  for (let i = 1; i < found.length; i++) {
    if (found[i].number !== found[i - 1].number + 1)
      throw new FormatError(
        `Keras: InceptionV3's ${what} layers are numbered in a row, but ${autoName(prefix, found[i - 1].number + 1)} is missing (${found[i - 1].name} is followed by ${found[i].name})`,
      );
  }
  if (found.length !== CONVS.length) {
    const range = found.length === 0 ? 'none' : `${found[0].name} … ${found[found.length - 1].name}`;
    throw new FormatError(
      `Keras: numbered ${what} layers (${prefix}_1, …) are read as InceptionV3's, which has ${CONVS.length}; this file has ${found.length} (${range})`,
    );
  }
  return found.map(({ name }) => name);
}

/** Whether a file's layer names are Keras's automatic Conv2D names, as InceptionV3's are. */
export function hasNumberedConvolutions(layerNames: readonly string[]): boolean {
  return layerNames.some((name) => /^conv2d(_\d+)?$/.test(name));
}

/** The mapping of a file's InceptionV3 layers: the n-th Conv2D and BatchNormalization by number onto the n-th BasicConv2d. */
export function kerasInceptionV3(layerNames: readonly string[]): KerasArchitecture {
  const convs = numbered(layerNames, 'conv2d', 'Conv2D');
  const norms = numbered(layerNames, 'batch_normalization', 'BatchNormalization');
  const layers = new Map<string, LayerKind>();
  CONVS.forEach(({ path, weight }, i) => {
    // Keras's Conv2D here has no bias (use_bias=False); one saved anyway would fold into the BatchNorm.
    layers.set(convs[i], { kind: 'conv', module: `${path}.conv`, foldBiasInto: `${path}.bn`, weight });
    layers.set(norms[i], { kind: 'batchnorm', module: `${path}.bn`, scale: false, channels: weight[0] });
  });
  // GlobalAveragePooling2D of Mixed_7c's 2048 channels, then Dense 'predictions' (softmax in Keras).
  layers.set('predictions', { kind: 'dense', module: 'fc', inputs: 2048 });
  return { keras: 'InceptionV3', model: 'inception_v3', options: { ...KERAS_INCEPTION_V3_OPTIONS }, layers };
}
