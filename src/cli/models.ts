import { formatCount, formatScaled, formatTable } from '../analysis/index.js';
import * as models from '../models/index.js';
import { defineCommand, refuseArguments } from './command.js';

export const modelsCommand = defineCommand({
  name: 'models',
  summary: 'registered models: family, parameters, MACs, input size',
  synopsis: ['[--json]'],
  description:
    'Every model the zoo builds, with its parameters and multiply-accumulates at its default input.',
  options: { json: { help: 'print the models and their metadata as JSON' } },
  examples: ['convnets models', 'convnets models --json'],
  run: ({ values, positionals }) => {
    refuseArguments('models', positionals);
    listModels(values.json === true);
  },
});

/** Every registered model with its parameters and MACs at its default input. */
function listModels(json: boolean): void {
  const infos = models.list();
  if (json) {
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
