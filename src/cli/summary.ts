import { formatSummary, summary } from '../analysis/index.js';
import { withBackend } from '../backend/registry.js';
import { ValueError } from '../errors.js';
import * as models from '../models/index.js';
import { parseCommandArgs } from './args.js';

const usage = 'usage: convnets summary <model> [--input C,H,W] [--json]';

/** "3,224,224" → [3, 224, 224]; four numbers give the batch too. */
export function parseInputShape(text: string): number[] {
  const shape = text.split(/[,x×]/).map((part) => Number(part.trim()));
  if (![3, 4].includes(shape.length) || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ValueError(`--input '${text}' must be C,H,W or N,C,H,W in positive integers`);
  }
  return shape;
}

/**
 * `convnets summary <model> [--input C,H,W] [--json]`: the layer table of a registered model. The model is built
 * on the meta backend, which holds shapes and no values, so even VGG-19 takes milliseconds.
 */
export function runSummary(args: string[]): void {
  const { values, positionals } = parseCommandArgs(args, {
    input: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new ValueError(`name one model\n${usage}`);
  const [name] = positionals;
  const info = models.info(name);
  const inputShape = typeof values.input === 'string' ? parseInputShape(values.input) : info.inputShape;
  const net = withBackend('meta', () => models.get(name));
  const result = summary(net, inputShape);
  console.log(values.json ? JSON.stringify(result, null, 2) : formatSummary(result));
}
