/**
 * `convnets explain`: why a model chose a class, as a heat map over the image (Grad-CAM, Grad-CAM++, saliency or
 * occlusion) written as a PNG overlay, and the raw map as .npy. The model and image loading here serve
 * `convnets show` too.
 */
import { basename, extname, join } from 'node:path';
import {
  COLOUR_MAPS,
  encodePng,
  enlarge,
  gradCam,
  gradCamPlusPlus,
  heatMap,
  imagePicture,
  lastConvolution,
  occlusion,
  overlay,
  saliency,
  type ColourMap,
  type Explanation,
  type Picture,
} from '../analysis/index.js';
import { ShapeError, FormatError, formatShape } from '../errors.js';
import { chwImage, sharpDecoder, transforms, type ChwImage } from '../data/index.js';
import { writeAtomic } from '../io/common.js';
import { readNpy, writeNpy } from '../io/index.js';
import * as models from '../models/index.js';
import type { Module } from '../nn/index.js';
import { Generator, tensor, type Tensor } from '../tensor/index.js';
import { loadTrained } from '../train/index.js';
import { UsageError, defineCommand, type Parsed } from './command.js';
import { ensureDirectory, requireFile, requireParentDirectory } from './files.js';
import { choiceOption, numberOption } from './train-setup.js';
import { zooModel } from './zoo.js';

/** A model to look inside, and how a file becomes its input. */
export interface Subject {
  model: Module;
  /** The registered name, for messages. */
  name: string;
  /** [C, H, W] images are decoded to, and .npy inputs must have. */
  imageShape: readonly [number, number, number];
  /** A checkpoint's test-time transform, or the published weights' normalisation (images only) for --arch. */
  prepareImage: (image: ChwImage) => ChwImage;
  prepareArray: (image: ChwImage) => ChwImage;
  classNames: readonly string[];
  /** The last convolutional stage (ModelInfo.featureLayer), else the last convolution. */
  defaultLayer: () => string;
}

/** The options that name a model, shared with `convnets show`. */
export const modelOptions = {
  arch: { value: 'MODEL', help: 'a zoo model instead of a checkpoint (with --weights)' },
  weights: { value: 'FILE', help: 'with --arch: its weights (.pth, .safetensors, .onnx, Keras .h5)' },
  'num-classes': { value: 'N', help: "with --arch: the classifier's outputs", default: "the model's" },
} as const;

/** A `convnets train` checkpoint (the first argument) or --arch with --weights; returns the arguments left. */
export async function loadSubject(
  values: { arch?: string; weights?: string; 'num-classes'?: string },
  positionals: readonly string[],
): Promise<{ subject: Subject; rest: string[] }> {
  if ((values.arch === undefined) !== (values.weights === undefined))
    throw new UsageError('--arch and --weights go together');
  if (values.arch !== undefined) {
    const { model, info } = await zooModel(values.arch, values.weights, values['num-classes']);
    const normalise =
      info.preprocessing === undefined
        ? transforms.compose([])
        : transforms.normalize(info.preprocessing.mean, info.preprocessing.std);
    const subject = describe(model, info, info.inputShape, transforms.makeTransform(normalise), (x) => x, []);
    return { subject, rest: [...positionals] };
  }
  if (positionals.length === 0)
    throw new UsageError('name a checkpoint directory, or a model with --arch and --weights');
  const trained = await loadTrained(positionals[0]);
  const transform = transforms.makeTransform(trained.transform);
  const info = models.info(trained.meta.model);
  const subject = describe(trained.model, info, trained.imageShape, transform, undefined, trained.classNames);
  return { subject, rest: positionals.slice(1) };
}

function describe(
  model: Module,
  info: models.ModelInfo,
  imageShape: readonly [number, number, number],
  transform: (image: ChwImage, generator: Generator) => ChwImage[],
  arrayTransform: ((image: ChwImage) => ChwImage) | undefined,
  classNames: readonly string[],
): Subject {
  const generator = new Generator(0);
  const prepareImage = (image: ChwImage): ChwImage => transform(image, generator)[0];
  return {
    model,
    name: info.name,
    imageShape,
    prepareImage,
    prepareArray: arrayTransform ?? prepareImage,
    classNames,
    defaultLayer: () => info.featureLayer ?? lastConvolution(model),
  };
}

/**
 * One input as the model's [1, C, H, W]: an image file decoded with sharp to the model's channels and size, or an
 * .npy array [C, H, W] or [1, C, H, W] that must have them already; then the subject's preparation.
 */
export async function loadInput(file: string, subject: Subject): Promise<Tensor> {
  await requireFile(file, 'input');
  const [channels, height, width] = subject.imageShape;
  let image: ChwImage;
  let prepare = subject.prepareImage;
  if (extname(file).toLowerCase() === '.npy') {
    const array = await readNpy(file);
    const shape = array.rank === 4 && array.shape[0] === 1 ? array.shape.slice(1) : array.shape;
    if (array.dtype !== 'float32' || shape.join() !== subject.imageShape.join())
      throw new ShapeError(
        `${file}: ${array.dtype} ${formatShape(array.shape)} is not one image ${formatShape(subject.imageShape)} ` +
          `(channels, height, width) as ${subject.name} takes`,
      );
    image = chwImage(array.data() as Float32Array, channels, height, width);
    prepare = subject.prepareArray;
  } else {
    const decode = await sharpDecoder();
    const decoded = await decode(file, { channels: channels === 1 ? 1 : 3, size: [height, width] }).catch(
      (error: Error) => {
        throw new FormatError(`${file}: not an image that can be decoded (${error.message})`);
      },
    );
    const planar = new Float32Array(decoded.data.length);
    const pixels = decoded.width * decoded.height;
    for (let p = 0; p < pixels; p++)
      for (let c = 0; c < decoded.channels; c++)
        planar[c * pixels + p] = decoded.data[p * decoded.channels + c] / 255;
    image = chwImage(planar, decoded.channels, decoded.height, decoded.width);
  }
  const prepared = prepare(image);
  return tensor(prepared.data, [1, prepared.channels, prepared.height, prepared.width]);
}

/** Writes a PNG through a temporary file, renamed once complete. */
export async function writePng(path: string, picture: Picture): Promise<void> {
  const bytes = encodePng(picture);
  await writeAtomic(path, (sink) => sink.write(bytes));
}

/** The integer factor that brings a picture's shorter side to at least `side` pixels. */
export function enlargement(picture: { width: number; height: number }, side = 224): number {
  return Math.max(1, Math.ceil(side / Math.min(picture.width, picture.height)));
}

/** The file's name without its extension: what output files are named after. */
export function stem(file: string): string {
  return basename(file, extname(file));
}

const METHODS = ['gradcam', 'gradcam++', 'saliency', 'occlusion'] as const;
type Method = (typeof METHODS)[number];

const METHOD_NAMES: Record<Method, string> = {
  gradcam: 'Grad-CAM',
  'gradcam++': 'Grad-CAM++',
  saliency: 'saliency',
  occlusion: 'occlusion',
};

const options = {
  method: { value: METHODS.join('|'), help: 'how the map is made', default: 'gradcam' },
  layer: {
    value: 'PATH',
    help: 'the layer Grad-CAM weighs (a dotted path, e.g. layer4 or features.10)',
    default: "the model's last convolutional stage, else its last convolution",
  },
  target: {
    value: 'CLASS',
    help: 'the class explained: its index or, for a checkpoint, its name',
    default: 'the top class',
  },
  out: { value: 'DIR', help: 'where the PNG overlay is written', default: '.' },
  output: {
    value: 'FILE',
    help: "also write the raw map as .npy (Grad-CAM: [H', W'] at the layer, not normalised)",
  },
  'colour-map': { value: COLOUR_MAPS.join('|'), help: "the heat map's colours", default: 'jet' },
  patch: { value: 'N', help: 'occlusion: the side of the grey square', default: '8' },
  stride: { value: 'N', help: 'occlusion: pixels between positions', default: 'half the patch' },
  ...modelOptions,
};

export const explainCommand = defineCommand({
  name: 'explain',
  summary: 'why a model chose a class: Grad-CAM, Grad-CAM++, saliency or occlusion over the image, as PNG',
  synopsis: [
    '<checkpoint-dir> <image|x.npy> [options]',
    '--arch <model> --weights FILE <image|x.npy> [options]',
  ],
  description:
    "The image is prepared as for predict: a checkpoint's test-time transform; with --arch, images are normalised\n" +
    'as the published weights expect and .npy arrays are taken as given. The PNG overlays the map, resized to the\n' +
    'image, on the image; the printed line names the class, its logit and the file.',
  options,
  examples: [
    'convnets explain runs/lenet5 shirt.png --out pictures',
    'convnets explain runs/lenet5 x.npy --method occlusion --patch 6 --stride 2 --target Shirt',
    'convnets explain --arch resnet18 --weights resnet18.pth cat.jpg --layer layer3 --output cam.npy',
  ],
  run: runExplain,
});

async function runExplain({ values, positionals }: Parsed<typeof options>): Promise<void> {
  const method = choiceOption('method', values.method, 'gradcam', METHODS);
  const colourMap = choiceOption<ColourMap>('colour-map', values['colour-map'], 'jet', COLOUR_MAPS);
  const out = values.out ?? '.';
  if (values.output !== undefined) {
    if (extname(values.output).toLowerCase() !== '.npy')
      throw new UsageError(`--output ${values.output}: must end in .npy`);
    await requireParentDirectory(values.output, '--output');
  }
  const patch = numberOption('patch', values.patch, 8, { integer: true, min: 1 });
  const stride = numberOption('stride', values.stride, Math.max(1, Math.floor(patch / 2)), {
    integer: true,
    min: 1,
  });
  const { subject, rest } = await loadSubject(values, positionals);
  if (rest.length !== 1)
    throw new UsageError(
      rest.length === 0 ? 'name the image or .npy to explain' : `one input at a time, got ${rest.length}`,
    );
  const [file] = rest;
  const target = targetClass(values.target, subject.classNames);
  const x = await loadInput(file, subject);
  const layer =
    method === 'gradcam' || method === 'gradcam++' ? (values.layer ?? subject.defaultLayer()) : undefined;
  const explanation = explainWith(method, subject.model, x, { layer, target, patch, stride });
  await ensureDirectory(out, '--out');
  const image = imagePicture(x);
  const factor = enlargement(image);
  const shown = enlarge(image, factor);
  const heat = heatMap(explanation.map, { colourMap, size: [shown.height, shown.width] });
  const picture = join(out, `${stem(file)}-${method.replace('++', 'pp')}.png`);
  await writePng(picture, overlay(shown, heat, 0.5));
  if (values.output !== undefined) await writeNpy(values.output, explanation.map);
  const name = subject.classNames[explanation.target];
  const where = layer === undefined ? '' : ` at ${layer}`;
  console.log(
    `${basename(file)}: class ${explanation.target}${name === undefined ? '' : ` ${name}`} ` +
      `(logit ${explanation.score.toFixed(4)}); ${METHOD_NAMES[method]}${where} ${formatShape(explanation.map.shape)}, ` +
      `${colourMap}: wrote ${picture}${values.output === undefined ? '' : ` and ${values.output}`}`,
  );
}

function explainWith(
  method: Method,
  model: Module,
  x: Tensor,
  options: { layer?: string; target?: number; patch: number; stride: number },
): Explanation {
  const { layer, target, patch, stride } = options;
  switch (method) {
    case 'gradcam':
      return gradCam(model, x, { layer, target });
    case 'gradcam++':
      return gradCamPlusPlus(model, x, { layer, target });
    case 'saliency':
      return saliency(model, x, { target });
    case 'occlusion':
      return occlusion(model, x, { patch, stride, target });
  }
}

/** --target as a class index, or a class name the checkpoint knows. */
function targetClass(value: string | undefined, classNames: readonly string[]): number | undefined {
  if (value === undefined) return undefined;
  const byName = classNames.indexOf(value);
  if (byName >= 0) return byName;
  if (/^-?\d+$/.test(value)) return Number(value);
  throw new UsageError(
    `--target ${value}: not a class index${classNames.length > 0 ? ` nor a class name (${classNames.join(', ')})` : ''}`,
  );
}
