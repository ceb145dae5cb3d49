import { formatSummary, summary } from '../analysis/index.js';
import { withBackend } from '../backend/registry.js';
import * as models from '../models/index.js';
import { UsageError, defineCommand } from './command.js';

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
  synopsis: ['<model> [--input C,H,W] [--json]'],
  description:
    'Builds the model on the meta backend (shapes only, no values), so even VGG-19 takes milliseconds.\n' +
    '`convnets models` lists the names.',
  options: {
    input: { value: 'C,H,W', help: 'the input shape (N,C,H,W gives the batch too)', default: "the model's" },
    json: { help: 'print the table as JSON' },
  },
  examples: [
    'convnets summary resnet18',
    'convnets summary lenet5 --input 1,32,32',
    'convnets summary vgg16 --json',
  ],
  run: ({ values, positionals }) => {
    if (positionals.length !== 1) throw new UsageError('name one model');
    const [name] = positionals;
    const info = models.info(name);
    const inputShape = typeof values.input === 'string' ? parseInputShape(values.input) : info.inputShape;
    const net = withBackend('meta', () => models.get(name));
    const result = summary(net, inputShape);
    console.log(values.json ? JSON.stringify(result, null, 2) : formatSummary(result));
  },
});
