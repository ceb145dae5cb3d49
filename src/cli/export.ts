import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ValueError } from '../errors.js';
import type { TransformSpec } from '../data/index.js';
import { exportOnnx } from '../io/index.js';
import type { Module } from '../nn/index.js';
import { loadTrained } from '../train/index.js';
import { UsageError, defineCommand, type Parsed } from './command.js';
import { ensureDirectory, requireParentDirectory } from './files.js';
import { numberOption } from './train-setup.js';
import { inputsMetadata } from './onnx-metadata.js';
import { checkModelName, writeTritonConfig } from './triton.js';
import { zooModel } from './zoo.js';

const options = {
  out: { value: 'FILE', help: 'the .onnx file to write (this or --triton is required)' },
  triton: {
    value: 'DIR',
    help: 'write a Triton model repository entry instead: DIR/NAME/config.pbtxt, DIR/NAME/1/model.onnx (dynamic batch), labels.txt',
  },
  name: { value: 'NAME', help: "with --triton: the model's name in the repository", default: 'the model' },
  'max-batch': { value: 'N', help: "with --triton: Triton's max_batch_size", default: '64' },
  arch: {
    value: 'MODEL',
    help: 'a zoo model to export instead of a checkpoint (convnets models lists them)',
  },
  weights: {
    value: 'FILE',
    help: 'with --arch: weights to load (.pth, .safetensors, .onnx, Keras .h5)',
    default: 'initialised',
  },
  'num-classes': { value: 'N', help: "with --arch: the classifier's outputs", default: "the model's" },
  input: { value: 'C,H,W', help: 'the input image shape', default: "the checkpoint's or the model's" },
  batch: { value: 'N|dynamic', help: "the batch dimension: fixed, or 'dynamic' for any", default: '1' },
  opset: { value: 'N', help: 'the ONNX opset version', default: '13' },
};

export const exportCommand = defineCommand({
  name: 'export',
  summary: 'an ONNX file from a checkpoint or a zoo model',
  synopsis: [
    '<checkpoint-dir> --out model.onnx [--input C,H,W] [--batch N|dynamic] [--opset N]',
    '--arch <model> [--weights FILE] [--num-classes N] --out model.onnx [...]',
    '<checkpoint-dir> --triton model_repository [--name NAME] [--max-batch N]',
  ],
  description:
    'Traces the model in evaluation mode at [batch, C, H, W] and writes an ONNX file that onnxruntime runs;\n' +
    "the file's doc_string says how raw images become its input. --triton writes the file as a Triton\n" +
    'Inference Server model repository entry (docs/serving.md).',
  options,
  examples: [
    'convnets export runs/lenet5 --out lenet5.onnx --batch dynamic',
    'convnets export --arch resnet18 --weights resnet18.pth --out resnet18.onnx',
    'convnets export runs/lenet5 --triton model_repository',
  ],
  run: runExport,
});

/** What is exported, the [C, H, W] it takes by default, and what the file's doc_string says about its input. */
interface Exportable {
  /** The registered model's name: a Triton entry's default name. */
  name: string;
  model: Module;
  /** Class names in output order, where the checkpoint has them (a Triton entry's labels.txt). */
  classNames: readonly string[];
  imageShape: readonly number[];
  /** How raw images become the model's input, where a training run says (a checkpoint), else null. */
  preprocessing: string | null;
  docString: string;
  /** A checkpoint's input rules, stored in the file for `convnets predict` when exported at its input shape. */
  metadata: Record<string, string>;
}

/**
 * `convnets export`: a `convnets train` checkpoint or a zoo model (with optional weights) written as an ONNX file,
 * traced in evaluation mode at [batch, C, H, W]. Prints one line: the path, opset, input shape and file size.
 */
async function runExport({ values, positionals }: Parsed<typeof options>): Promise<void> {
  const viaArch = typeof values.arch === 'string';
  if (positionals.length > (viaArch ? 0 : 1))
    throw new UsageError(
      `unexpected argument '${positionals[viaArch ? 0 : 1]}': export takes one checkpoint, or --arch and no argument`,
    );
  if (!viaArch && positionals.length === 0) throw new UsageError('name a checkpoint or --arch');
  if (!viaArch && (values.weights !== undefined || values['num-classes'] !== undefined))
    throw new UsageError('--weights and --num-classes go with --arch; a checkpoint holds its own');
  const triton = typeof values.triton === 'string' ? values.triton : null;
  if ((typeof values.out === 'string') === (triton !== null))
    throw new UsageError(
      'give --out model.onnx (the file to write) or --triton DIR (a model repository), one of them',
    );
  if (triton === null && (values.name !== undefined || values['max-batch'] !== undefined))
    throw new UsageError('--name and --max-batch go with --triton');
  if (triton !== null && values.batch !== undefined && values.batch !== 'dynamic')
    throw new UsageError("--triton writes a dynamic batch; --max-batch N sets Triton's largest");
  const maxBatch = numberOption('max-batch', values['max-batch'], 64, { integer: true, min: 1 });
  if (triton !== null) await ensureDirectory(triton, '--triton');
  const image = typeof values.input === 'string' ? parseImageShape(values.input) : undefined;
  const { batch, dynamic } = parseBatch(triton === null ? values.batch : 'dynamic');
  const opset = numberOption('opset', values.opset, 13, { integer: true, min: 1 });

  const source = viaArch
    ? await fromArchitecture(values.arch as string, values.weights, values['num-classes'])
    : await fromCheckpoint(positionals[0]);
  const name =
    triton === null ? null : checkModelName(typeof values.name === 'string' ? values.name : source.name);
  const out = triton === null ? (values.out as string) : join(triton, name!, '1', 'model.onnx');
  if (triton === null) {
    if ((await stat(out).catch(() => null))?.isDirectory())
      throw new ValueError(`--out ${out}: is a directory; name the .onnx file to write`);
    await requireParentDirectory(out, '--out');
  } else await mkdir(dirname(out), { recursive: true });
  const inputShape = [batch, ...(image ?? source.imageShape)];
  const { outputs } = await exportOnnx(source.model, inputShape, out, {
    opsetVersion: opset,
    batch: dynamic ? 'dynamic' : 'traced',
    docString: source.docString,
    metadata: image === undefined ? source.metadata : {},
  });
  if (triton !== null) {
    const [output] = outputs;
    await writeTritonConfig(join(triton, name!), {
      name: name!,
      input: { name: 'input', dims: inputShape.slice(1) },
      output: { name: output.name, dims: (output.shape ?? []).slice(1) as number[] },
      maxBatchSize: maxBatch,
      labels: source.classNames,
    });
  }
  const written = dynamic ? ['batch', ...inputShape.slice(1)] : inputShape;
  const { size } = await stat(out);
  const preprocessing = source.preprocessing === null ? '' : `; inputs ${source.preprocessing}`;
  console.log(
    `wrote ${out}: opset ${opset}, input [${written.join(', ')}], ${formatBytes(size)}${preprocessing}`,
  );
}

/** --input for export: C,H,W only, since the batch is --batch's. */
function parseImageShape(text: string): number[] {
  const shape = text.split(/[,x×]/).map((part) => Number(part.trim()));
  if (shape.length !== 3 || shape.some((d) => !Number.isInteger(d) || d < 1))
    throw new UsageError(
      `--input '${text}' must be C,H,W in positive integers (the batch is --batch N|dynamic)`,
    );
  return shape;
}

/** --batch N traces at N and writes it; 'dynamic' traces at 1 and writes a symbolic batch dimension. */
function parseBatch(value: string | undefined): { batch: number; dynamic: boolean } {
  if (value === 'dynamic') return { batch: 1, dynamic: true };
  if (value !== undefined && !/^\d+$/.test(value.trim()))
    throw new UsageError(`--batch must be a positive integer or 'dynamic', got '${value}'`);
  return { batch: numberOption('batch', value, 1, { integer: true, min: 1 }), dynamic: false };
}

async function fromCheckpoint(path: string): Promise<Exportable> {
  const trained = await loadTrained(path);
  const { meta } = trained;
  const [channels, height, width] = trained.imageShape;
  const preprocessing = `as in training: ${channels}×${height}×${width} images in [0, 1], ${describeTransform(trained.transform)}`;
  return {
    name: meta.model,
    model: trained.model,
    classNames: trained.classNames,
    imageShape: [...trained.inputShape],
    preprocessing,
    docString: `${meta.model} trained by convnets on ${meta.data ?? 'its data'} (epoch ${trained.epoch}); input: ${preprocessing}`,
    metadata: inputsMetadata(trained),
  };
}

async function fromArchitecture(
  arch: string,
  weights: string | boolean | undefined,
  numClasses: string | boolean | undefined,
): Promise<Exportable> {
  const file = typeof weights === 'string' ? weights : undefined;
  const { model, info } = await zooModel(arch, file, numClasses);
  const origin = file === undefined ? 'initialised, untrained' : `weights from ${basename(file)}`;
  return {
    name: arch,
    model,
    classNames: [],
    imageShape: info.inputShape,
    preprocessing: null,
    docString: `${arch} (convnets), ${origin}`,
    metadata: {},
  };
}

/** The test-time steps of a training run, in words: 'padded by 2 (constant 0), normalised (mean 0.286, std 0.353)'. */
function describeTransform(spec: TransformSpec): string {
  switch (spec.kind) {
    case 'compose':
      return spec.transforms.map(describeTransform).join(', ');
    case 'pad': {
      const [left, ...others] = spec.padding;
      const sides = others.every((p) => p === left) ? String(left) : spec.padding.join('/');
      const fill = spec.mode === 'constant' ? ` ${[spec.fill].flat().join('/')}` : '';
      return `padded by ${sides} (${spec.mode}${fill})`;
    }
    case 'normalize':
      return `normalised (mean ${spec.mean.join('/')}, std ${spec.std.join('/')})`;
    default:
      return spec.kind;
  }
}

function formatBytes(size: number): string {
  if (size < 1e3) return `${size} bytes`;
  return size < 1e6 ? `${(size / 1e3).toFixed(1)} kB` : `${(size / 1e6).toFixed(1)} MB`;
}
