import { formatCount, formatScaled, formatTable } from '../analysis/index.js';
import * as models from '../models/index.js';
import { parseCommandArgs, refuseArguments } from './args.js';

/** `convnets models [--json]`: every registered model with its parameters and MACs at its default input. */
export function runModels(args: string[]): void {
  const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' } });
  refuseArguments('models', positionals);
  const infos = models.list();
  if (values.json) {
    console.log(JSON.stringify(infos, null, 2));
    return;
  }
  const rows = infos.map((info) => [
    info.name,
    info.family,
    formatCount(info.parameters),
    formatCount(info.macs),
    formatScaled(info.macs),
    `${info.inputShape.join('×')}`,
  ]);
  const header = ['Model', 'Family', 'Params', 'MACs', 'MACs (scaled)', 'Input (C×H×W)'];
  console.log(formatTable(header, rows, ['left', 'left', 'right', 'right', 'right', 'left']).join('\n'));
}
