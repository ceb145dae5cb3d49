import { stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { FormatError, ShapeError, ValueError, formatShape } from '../errors.js';
import { chwImage, readImageFile, sharpDecoder, transforms, type ChwImage } from '../data/index.js';
import { importOnnx, loadCaffe, readNpy, writeNpy } from '../io/index.js';
import type { Module } from '../nn/index.js';
import { Generator, concat, noGrad, slice, softmax, tensor, type Tensor } from '../tensor/index.js';
import {
  Ensemble,
  TTA_MODES,
  describePreprocessing,
  loadTrained,
  logProbabilitiesWithTta,
  preprocessingTransform,
  type Preprocessing,
  type TtaMode,
  type TtaOptions,
} from '../train/index.js';
import { UsageError, defineCommand, type Parsed } from './command.js';
import { requireFile, requireParentDirectory } from './files.js';
import { TTA_PADDING, loadMembers, ttaPaddingOption, ttaTransform } from './eval.js';
import { choiceOption, numberOption } from './train-setup.js';
import { exportedInputs } from './onnx-metadata.js';
import { zooModel } from './zoo.js';

const options = {
  top: { value: 'K', help: 'the classes printed per input', default: '5' },
  output: { value: 'FILE', help: 'write the raw outputs (logits) as .npy instead of printing classes' },
  arch: { value: 'MODEL', help: 'a zoo model to run instead of a checkpoint (with --weights)' },
  weights: {
    value: 'W',
    help: "with --arch: its weights (.pth, .safetensors, .onnx, Keras .h5, ResNet-50's .caffemodel, a checkpoint directory, or a registry name such as resnet18:IMAGENET1K_V1, which prints ImageNet class names)",
  },
  'num-classes': { value: 'N', help: "with --arch: the classifier's outputs", default: "the model's" },
  input: {
    value: 'FILE',
    help: 'an input (image or .npy); inputs may also follow as arguments',
    multiple: true,
  },
  tta: {
    value: TTA_MODES.join('|'),
    help: "checkpoints: softmax averaged over the mirror image or over crops (as convnets eval's --tta)",
    default: 'none',
  },
  'tta-padding': {
    value: 'P',
    help: "pixels of black padding on each side before five-crop and ten-crop (as convnets eval's)",
    default: String(TTA_PADDING),
  },
};

export const predictCommand = defineCommand({
  name: 'predict',
  summary: 'top classes or raw outputs for images or .npy batches',
  synopsis: [
    '<checkpoint-dir>... <image-or-.npy>... [--tta MODE] [--top K] [--output y.npy]',
    '<model.onnx> <.npy-or-image>... [--top K] [--output y.npy]',
    '<model.caffemodel> <.npy-or-image>... [--top K] [--output y.npy]',
    '--arch <model> --weights FILE --input x.npy [--output y.npy]',
  ],
  description:
    "A checkpoint's model gets its preprocessing applied to images (said on stderr: 'RGB 100×80 → grey, resized to\n" +
    "28×28 …'); a .npy at the model's input shape is fed as it is. An .onnx file exported by convnets from a\n" +
    'checkpoint prepares images and names classes as the checkpoint does; any other .onnx runs as it is, and so\n' +
    'does a Caffe .caffemodel with its network beside it (model.prototxt, or X-deploy.prototxt for X-model);\n' +
    'a zoo model with --arch takes its input as given, except with registry weights (resnet18:IMAGENET1K_V1):\n' +
    'images are then resized, centre-cropped and normalised as the weights expect, and classes printed by name.\n' +
    'Several checkpoint directories are an ensemble averaging their softmax outputs (--output then writes the\n' +
    'log of the averaged probabilities).',
  options,
  examples: [
    'convnets predict runs/lenet5 shirt.png',
    'convnets predict runs/lenet5-s1 runs/lenet5-s2 runs/lenet5-s3 shirt.png --tta flip',
    'convnets predict model.onnx x.npy --output y.npy',
    'convnets predict --arch resnet18 --weights resnet18.pth --input x.npy --top 3',
    'convnets predict --arch resnet18 --weights resnet18:IMAGENET1K_V1 photo.jpg',
  ],
  run: runPredict,
});

/** What the inputs are fed to, and how raw images are turned into its input. */
interface Predictor {
  model: Module;
  /** Channels and size raw images are decoded to; null where an ONNX file does not fix them (.npy inputs only). */
  imageShape: readonly [number, number, number] | null;
  /** The evaluation transform of a `convnets train` checkpoint; none for --arch, whose input is taken as given. */
  prepare: (image: ChwImage) => ChwImage;
  /** A checkpoint's: what the model takes, and the rules from a file to it (predict says what it did). */
  inputShape?: readonly [number, number, number];
  preprocessing?: Preprocessing | null;
  classNames: readonly string[];
  /** Decode images at their own size (the channels from imageShape), leaving the resizing to prepare. */
  decodeAtOwnSize?: boolean;
  /** What an ONNX file declares: its name, its input's [N, C, H, W] (fixed dimensions as numbers). */
  onnx?: { path: string; inputShape: readonly (number | string | null)[] | null };
  /** Checkpoints: the views whose softmax outputs are averaged. */
  tta?: TtaOptions;
}

/**
 * `convnets predict`: the model's evaluation-mode output for images or .npy batches, from a `convnets train`
 * checkpoint (its test-time transform applied, top-K classes printed), from an .onnx file (prepared as its
 * checkpoint where convnets exported it, else run as it is) or from a zoo architecture and a weights file;
 * --output writes the raw output.
 */
async function runPredict({ values, positionals }: Parsed<typeof options>): Promise<void> {
  const viaArch = typeof values.arch === 'string';
  if (viaArch !== (typeof values.weights === 'string'))
    throw new UsageError('--arch and --weights go together');
  // Checkpoint directories first: several are an ensemble.
  const models = viaArch ? 0 : Math.max(1, await leadingDirectories(positionals));
  const inputs = [...(values.input ?? []), ...positionals.slice(models)];
  if ((!viaArch && positionals.length === 0) || inputs.length === 0)
    throw new UsageError('name a model and inputs');
  const tta = choiceOption('tta', values.tta, 'none', TTA_MODES);
  if (tta !== 'none' && (viaArch || ['.onnx', '.caffemodel'].includes(extname(positionals[0]).toLowerCase())))
    throw new UsageError('--tta applies to checkpoints of convnets train, not to --arch or .onnx models');
  if (typeof values.output === 'string') await requireParentDirectory(values.output, '--output');
  const predictor = viaArch
    ? await fromArchitecture(values.arch as string, values.weights as string, values['num-classes'])
    : models > 1 || tta !== 'none'
      ? await fromCheckpoints(positionals.slice(0, models), tta, ttaPaddingOption(values['tta-padding']))
      : await fromModelFile(positionals[0]);
  const batch = await loadInputs(inputs, predictor);
  predictor.model.eval();
  const logits = noGrad(() => run(predictor, batch));
  if (typeof values.output === 'string') {
    await writeNpy(values.output, logits);
    console.log(`wrote ${formatShape(logits.shape)} output to ${values.output}`);
    return;
  }
  const top = numberOption('top', values.top, 5, { integer: true, min: 1 });
  printTopK(
    noGrad(() => softmax(logits, 1)),
    inputs,
    predictor.classNames,
    top,
  );
}

/** The network definition a .caffemodel's release puts beside it: model.prototxt, or X-deploy.prototxt for X-model. */
async function prototxtBeside(caffemodel: string): Promise<string> {
  const stem = basename(caffemodel, extname(caffemodel));
  const candidates = [
    `${stem}.prototxt`,
    `${stem.replace(/-model$/, '')}-deploy.prototxt`,
    'deploy.prototxt',
  ];
  for (const name of candidates) {
    const path = join(dirname(caffemodel), name);
    if ((await stat(path).catch(() => null))?.isFile()) return path;
  }
  throw new ValueError(
    `${caffemodel}: no network definition beside it (looked for ${candidates.join(', ')})`,
  );
}

/** A file ending in .onnx or .caffemodel is a graph to run; anything else names a `convnets train` checkpoint. */
async function fromModelFile(path: string): Promise<Predictor> {
  const extension = extname(path).toLowerCase();
  if (!['.onnx', '.caffemodel'].includes(extension) || !(await stat(path).catch(() => null))?.isFile())
    return fromCheckpoint(path);
  const model =
    extension === '.onnx' ? await importOnnx(path) : await loadCaffe(await prototxtBeside(path), path);
  if (model.inputs.length !== 1) {
    const names = model.inputs.map((input) => `'${input.name}'`).join(', ');
    throw new ValueError(
      `${path}: the graph takes ${model.inputs.length} inputs (${names}); predict feeds one`,
    );
  }
  const { name, shape } = model.inputs[0];
  if (shape !== null && shape.length !== 4)
    throw new ShapeError(
      `${path}: input '${name}' is [${shape.join(', ')}], not an image batch [N, C, H, W]`,
    );
  const image = shape?.slice(1) ?? [];
  const fixed = image.length === 3 && image.every((d) => typeof d === 'number');
  const onnx = { path, inputShape: shape };
  const exported = exportedInputs(model.metadata, path);
  if (exported === null || !fixed)
    return {
      model,
      imageShape: fixed ? (image as [number, number, number]) : null,
      prepare: (x) => x,
      classNames: [],
      onnx,
    };
  // Exported by convnets from a checkpoint: images prepared as in training, as the checkpoint itself would be.
  const transform = transforms.makeTransform(exported.transform);
  const generator = new Generator(0);
  return {
    model,
    imageShape: exported.imageShape,
    prepare: (x) => transform(x, generator)[0],
    classNames: exported.classNames,
    inputShape: image as [number, number, number],
    preprocessing: exported.preprocessing,
    onnx,
  };
}

/**
 * The model's output for the batch. An ONNX file's input shape is checked first, and one that fixes the batch size
 * (exported without --batch dynamic) runs the inputs in groups of that size.
 */
function run(predictor: Predictor, batch: Tensor): Tensor {
  const { model, onnx, tta } = predictor;
  if (tta !== undefined) return logProbabilitiesWithTta(model, batch, tta);
  if (onnx?.inputShape == null) return model.call(batch);
  const [fixedBatch, ...image] = onnx.inputShape;
  const fits = image.every((d, i) => typeof d !== 'number' || d === batch.shape[i + 1]);
  if (!fits) {
    throw new ShapeError(
      `inputs ${formatShape(batch.shape)} do not fit ${onnx.path}, whose input is [${onnx.inputShape.join(', ')}]`,
    );
  }
  const [n, ...rest] = batch.shape;
  if (typeof fixedBatch !== 'number' || fixedBatch === n) return model.call(batch);
  if (n % fixedBatch !== 0) {
    throw new ShapeError(
      `${onnx.path} takes batches of ${fixedBatch} (exported without --batch dynamic); ${n} inputs do not divide into them`,
    );
  }
  const groups = Array.from({ length: n / fixedBatch }, (_, g) =>
    model.call(slice(batch, [g * fixedBatch, 0, 0, 0], [fixedBatch, ...rest])),
  );
  return concat(groups, 0);
}

async function fromCheckpoint(path: string): Promise<Predictor> {
  const trained = await loadTrained(path);
  const transform = transforms.makeTransform(trained.transform);
  const generator = new Generator(0);
  return {
    model: trained.model,
    imageShape: trained.imageShape,
    prepare: (image) => transform(image, generator)[0],
    classNames: trained.classNames,
    inputShape: trained.inputShape,
    preprocessing: trained.preprocessing,
  };
}

/** How many of the arguments, from the first, are directories (checkpoints, where inputs are files). */
async function leadingDirectories(paths: readonly string[]): Promise<number> {
  let count = 0;
  while (count < paths.length && (await stat(paths[count]).catch(() => null))?.isDirectory()) count++;
  return count;
}

/** An ensemble of `convnets train` runs (or one run) seen through the views of `tta`. */
async function fromCheckpoints(paths: readonly string[], tta: TtaMode, padding: number): Promise<Predictor> {
  const members = await loadMembers(paths);
  const transform = transforms.makeTransform(ttaTransform(members[0].transform, tta, padding));
  const generator = new Generator(0);
  return {
    model: members.length === 1 ? members[0].model : new Ensemble(members.map((member) => member.model)),
    imageShape: members[0].imageShape,
    prepare: (image) => transform(image, generator)[0],
    classNames: members[0].classNames,
    tta: { tta, cropSize: members[0].inputShape[1] },
    inputShape: members[0].inputShape,
    preprocessing: members[0].preprocessing,
  };
}

async function fromArchitecture(
  arch: string,
  weights: string,
  numClasses: string | boolean | undefined,
): Promise<Predictor> {
  const { model, info, published } = await zooModel(arch, weights, numClasses);
  if (published === null)
    return { model, imageShape: info.inputShape, prepare: (image) => image, classNames: [] };
  // Registry weights: images at their own size, prepared as the weights expect (resize, centre crop, normalise).
  const transform = transforms.makeTransform(preprocessingTransform(published.preprocessing));
  const generator = new Generator(0);
  return {
    model,
    imageShape: info.inputShape,
    decodeAtOwnSize: true,
    prepare: (image) => transform(image, generator)[0],
    classNames: published.classNames,
  };
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.join() === b.join();

/**
 * .npy files hold [C, H, W] or [N, C, H, W] batches: for a checkpoint, one at its data's image shape is prepared as
 * training data was, one at the model's input shape is fed as it is; other files are images decoded with sharp to
 * the data's image shape (cover resize, centre crop, the channel rule) and prepared likewise. For a checkpoint, one
 * line on stderr per input says what was done to it.
 */
async function loadInputs(files: readonly string[], predictor: Predictor): Promise<Tensor> {
  const prepared: ChwImage[] = [];
  const say = (file: string, what: string) => {
    if (predictor.inputShape !== undefined) console.error(`${basename(file)}: ${what}`);
  };
  const describe = (from: readonly [number, number, number]) =>
    predictor.preprocessing
      ? describePreprocessing(predictor.preprocessing, from)
      : 'the checkpoint’s test-time transform';
  for (const file of files) {
    await requireFile(file, 'input');
    if (extname(file).toLowerCase() === '.npy') {
      const array = await readNpy(file);
      const shape = array.rank === 3 ? [1, ...array.shape] : array.shape;
      if (shape.length !== 4 || array.dtype !== 'float32') {
        throw new ShapeError(
          `${file}: expected float32 [C, H, W] or [N, C, H, W], got ${array.dtype} ${formatShape(array.shape)}`,
        );
      }
      const values = array.data() as Float32Array;
      const [n, c, h, w] = shape;
      const image = [c, h, w] as const;
      const { imageShape, inputShape } = predictor;
      const asInput =
        inputShape !== undefined && sameShape(image, inputShape) && !sameShape(image, imageShape ?? []);
      if (inputShape !== undefined && !asInput && !sameShape(image, imageShape ?? [])) {
        throw new ShapeError(
          `${file}: images [${image.join(', ')}] are neither the data's [${imageShape?.join(', ')}] (prepared as in training) nor the model's input [${inputShape.join(', ')}] (fed as they are)`,
        );
      }
      say(file, asInput ? `[${image.join(', ')}], the model's input, fed as it is` : describe(image));
      for (let i = 0; i < n; i++) {
        const one = chwImage(values.slice(i * c * h * w, (i + 1) * c * h * w), c, h, w);
        prepared.push(asInput ? one : predictor.prepare(one));
      }
      continue;
    }
    if (predictor.imageShape === null) {
      throw new ValueError(
        `${file}: ${predictor.onnx?.path ?? 'the model'} does not fix its input's channels and size; give .npy inputs`,
      );
    }
    const shape = predictor.imageShape;
    if (predictor.decodeAtOwnSize) {
      prepared.push(predictor.prepare(await decodeAtOwnSize(file)));
      continue;
    }
    const { image, source } = await readImageFile(file, shape).catch((error: Error) => {
      throw new FormatError(`${file}: not an image that can be decoded (${error.message})`);
    });
    say(file, describe(source));
    prepared.push(predictor.prepare(chwImage(image, shape[0], shape[1], shape[2])));
  }
  const [first] = prepared;
  const size = first.data.length;
  const mismatch = prepared.find((image) => image.data.length !== size);
  if (mismatch !== undefined) {
    throw new ShapeError(
      `inputs differ in shape: [${first.channels}, ${first.height}, ${first.width}] and [${mismatch.channels}, ${mismatch.height}, ${mismatch.width}]`,
    );
  }
  const batch = new Float32Array(prepared.length * size);
  prepared.forEach((image, i) => batch.set(image.data, i * size));
  return tensor(batch, [prepared.length, first.channels, first.height, first.width]);
}

/** An image file as RGB values in [0, 1] at its own size (registry weights' preprocessing resizes it). */
async function decodeAtOwnSize(file: string): Promise<ChwImage> {
  const decode = await sharpDecoder();
  const decoded = await decode(file, { channels: 3, size: undefined }).catch((error: Error) => {
    throw new FormatError(`${file}: not an image that can be decoded (${error.message})`);
  });
  const planar = new Float32Array(decoded.data.length);
  const pixels = decoded.width * decoded.height;
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < decoded.channels; c++)
      planar[c * pixels + p] = decoded.data[p * decoded.channels + c] / 255;
  }
  return chwImage(planar, decoded.channels, decoded.height, decoded.width);
}

function printTopK(
  probabilities: Tensor,
  files: readonly string[],
  classNames: readonly string[],
  k: number,
): void {
  const [n, classes] = probabilities.shape;
  const values = probabilities.data();
  const labels =
    n === files.length ? files.map((f) => basename(f)) : Array.from({ length: n }, (_, i) => `#${i}`);
  for (let i = 0; i < n; i++) {
    const row = Array.from(values.subarray(i * classes, (i + 1) * classes));
    const ranked = row
      .map((p, c) => [p, c])
      .sort((a, b) => b[0] - a[0])
      .slice(0, k);
    console.log(labels[i]);
    for (const [p, c] of ranked)
      console.log(`  ${(100 * p).toFixed(2).padStart(6)}%  ${c}${classNames[c] ? ` ${classNames[c]}` : ''}`);
  }
}
