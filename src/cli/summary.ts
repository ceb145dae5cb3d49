import { formatSummary, summary, type ModelSummary } from '../analysis/index.js';
import { withBackend } from '../backend/registry.js';
import * as models from '../models/index.js';
import { Conv2d, Sequential, type Module } from '../nn/index.js';
import { UsageError, defineCommand } from './command.js';
import { numberOption } from './train-setup.js';

/** A single module to cost on its own: its builder from --options, and the input it is costed at by default. */
interface SingleModule {
  help: string;
  build(options: Record<string, unknown>): Module;
  inputShape(options: Record<string, unknown>): number[];
}

const integer = (options: Record<string, unknown>, name: string, fallback: number): number => {
  const value = options[name] ?? fallback;
  if (!Number.isInteger(value) || (value as number) < 1)
    throw new UsageError(`--options: ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return value as number;
};

/**
 * The building blocks the case studies cost (the course's Inception example: a 5×5 convolution 192 → 32 on
 * 28×28 with and without a 1×1 bottleneck to 16, and the whole module, inception 3a).
 */
export const SINGLE_MODULES: Record<string, SingleModule> = {
  conv2d: {
    help: 'a same convolution: inChannels (192), outChannels (32), kernelSize (5); bottleneck N puts a 1×1 to N first',
    build: (options) => {
      const inChannels = integer(options, 'inChannels', 192);
      const outChannels = integer(options, 'outChannels', 32);
      const kernelSize = integer(options, 'kernelSize', 5);
      if (options.bottleneck === undefined)
        return new Conv2d(inChannels, outChannels, kernelSize, { padding: 'same' });
      const bottleneck = integer(options, 'bottleneck', 16);
      return new Sequential(
        new Conv2d(inChannels, bottleneck, 1),
        new Conv2d(bottleneck, outChannels, kernelSize, { padding: 'same' }),
      );
    },
    inputShape: (options) => [integer(options, 'inChannels', 192), 28, 28],
  },
  'inception-module': {
    help: "GoogLeNet's inception 3a (192 → 64, 96→128, 16→32, pool→32) with the paper's 5×5 branch; options: inChannels, ch1x1, ch3x3Reduce, ch3x3, ch5x5Reduce, ch5x5, poolProj, branch3KernelSize",
    build: (options) =>
      new models.Inception(
        integer(options, 'inChannels', 192),
        integer(options, 'ch1x1', 64),
        integer(options, 'ch3x3Reduce', 96),
        integer(options, 'ch3x3', 128),
        integer(options, 'ch5x5Reduce', 16),
        integer(options, 'ch5x5', 32),
        integer(options, 'poolProj', 32),
        { branch3KernelSize: integer(options, 'branch3KernelSize', 5) as 3 | 5 },
      ),
    inputShape: (options) => [integer(options, 'inChannels', 192), 28, 28],
  },
};

/** --options: a JSON object of builder options. */
function parseOptions(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`--options '${text}' is not JSON; give an object such as '{"numClasses":3}'`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new UsageError(`--options '${text}' must be a JSON object such as '{"numClasses":3}'`);
  return parsed as Record<string, unknown>;
}

/** "3,224,224" → [3, 224, 224]; four numbers give the batch too. */
export function parseInputShape(text: string): number[] {
  const shape = text.split(/[,x×]/).map((part) => Number(part.trim()));
  if (![3, 4].includes(shape.length) || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new UsageError(`--input '${text}' must be C,H,W or N,C,H,W in positive integers`);
  }
  return shape;
}

/**
 * `convnets summary <model> [--input C,H,W] [--json]`: the layer table of a registered model. The model is built
 * on the meta backend, which holds shapes and no values, so even VGG-19 takes milliseconds.
 */
export const summaryCommand = defineCommand({
  name: 'summary',
  summary: 'layer table of a model: output shapes, parameters, MACs',
  synopsis: ['<model | module> [--options JSON] [--input C,H,W] [--json]'],
  description:
    'Builds the model on the meta backend (shapes only, no values), so even VGG-19 takes milliseconds.\n' +
    '`convnets models` lists the names. --options passes builder options. A module costs one block alone:\n' +
    Object.entries(SINGLE_MODULES)
      .map(([name, module]) => `  ${name}: ${module.help}`)
      .join('\n'),
  options: {
    input: { value: 'C,H,W', help: 'the input shape (N,C,H,W gives the batch too)', default: "the model's" },
    options: { value: 'JSON', help: "the builder's options, a JSON object", default: '{}' },
    depth: {
      value: 'N',
      help: 'one row per module down to depth N (1: the top-level blocks), each counting everything inside it',
      default: 'every layer',
    },
    json: { help: 'print the table as JSON' },
  },
  examples: [
    'convnets summary resnet18',
    'convnets summary lenet5 --input 1,32,32',
    'convnets summary vgg16 --json',
    'convnets summary inception_v4 --depth 2',
    `convnets summary resnet50 --options '{"numClasses":3}'`,
    'convnets summary inception-module',
    `convnets summary conv2d --options '{"inChannels":192,"outChannels":32,"kernelSize":5,"bottleneck":16}'`,
  ],
  run: ({ values, positionals }) => {
    if (positionals.length !== 1) throw new UsageError('name one model or module');
    const result = summarize(positionals[0], values.options, values.input, values.depth);
    console.log(values.json ? JSON.stringify(result, null, 2) : formatSummary(result));
  },
});

/** What `convnets summary <name> [--options JSON] [--input C,H,W]` reports, as a value (docs' tests use it). */
export function summarize(name: string, options?: string, input?: string, depth?: string): ModelSummary {
  const builderOptions = parseOptions(options);
  const single = SINGLE_MODULES[name];
  const defaultShape =
    single === undefined ? models.info(name).inputShape : single.inputShape(builderOptions);
  const inputShape = input === undefined ? defaultShape : parseInputShape(input);
  const net = withBackend('meta', () =>
    single === undefined ? models.get(name, builderOptions) : single.build(builderOptions),
  );
  if (depth === undefined) return summary(net, inputShape);
  return summary(net, inputShape, { depth: numberOption('depth', depth, 0, { integer: true, min: 1 }) });
}
