/** `convnets show filters|maps`: a convolution's filters, or a layer's feature maps for an image, as a PNG grid. */
import { join } from 'node:path';
import {
  enlarge,
  featureMapPictures,
  featureMaps,
  filterPictures,
  filters,
  findLayer,
  grid,
  type Picture,
} from '../analysis/index.js';
import { ValueError } from '../errors.js';
import { Conv2d, type Module } from '../nn/index.js';
import { UsageError, defineCommand, type Parsed } from './command.js';
import { enlargement, loadInput, loadSubject, modelOptions, stem, writePng } from './explain.js';
import { ensureDirectory } from './files.js';
import { numberOption } from './train-setup.js';

const WHAT = ['filters', 'maps'] as const;

const options = {
  layer: { value: 'PATH', help: 'the layer shown (a dotted path)', default: 'the first convolution' },
  out: { value: 'DIR', help: 'where the PNG is written', default: '.' },
  limit: { value: 'N', help: 'show at most the first N filters or channels', default: '64' },
  ...modelOptions,
};

export const showCommand = defineCommand({
  name: 'show',
  summary: "a convolution's filters, or a layer's feature maps for an image, as a PNG grid",
  synopsis: [
    'filters <checkpoint-dir> [--layer PATH] [--out DIR]',
    'maps <checkpoint-dir> <image|x.npy> [--layer PATH] [--out DIR]',
    'filters|maps --arch <model> --weights FILE [image] [options]',
  ],
  description:
    'Filters share one grey scale (mid-grey is 0), in colour where a filter reads three channels; each feature map\n' +
    'is scaled to its own range. Inputs are prepared as for explain.',
  options,
  examples: [
    'convnets show filters runs/lenet5 --out pictures',
    'convnets show maps runs/lenet5 shirt.png --layer features.3',
    'convnets show filters --arch resnet18 --weights resnet18.pth',
  ],
  run: runShow,
});

function firstConvolution(model: Module): string {
  const found = model.namedModules().find(([, m]) => m instanceof Conv2d);
  if (found === undefined) throw new ValueError(`${model.typeName} has no convolution (Conv2d) to show`);
  return found[0];
}

async function runShow({ values, positionals }: Parsed<typeof options>): Promise<void> {
  const [what, ...rest] = positionals;
  const kind = WHAT.find((w) => w === what);
  if (kind === undefined)
    throw new UsageError(
      `say what to show: ${WHAT.join(' or ')}${what === undefined ? '' : `, not '${what}'`}`,
    );
  const limit = numberOption('limit', values.limit, 64, { integer: true, min: 1 });
  const out = values.out ?? '.';
  const { subject, rest: inputs } = await loadSubject(values, rest);
  const layer = values.layer ?? firstConvolution(subject.model);
  findLayer(subject.model, layer);
  let pictures: Picture[];
  let name: string;
  if (kind === 'filters') {
    if (inputs.length > 0) throw new UsageError(`unexpected argument '${inputs[0]}': filters take no image`);
    pictures = filterPictures(filters(subject.model, layer));
    name = `filters-${layer}.png`;
  } else {
    if (inputs.length !== 1)
      throw new UsageError(
        inputs.length === 0 ? 'name the image or .npy whose maps to show' : 'one image at a time',
      );
    const x = await loadInput(inputs[0], subject);
    pictures = featureMapPictures(featureMaps(subject.model, x, [layer]).get(layer)!);
    name = `${stem(inputs[0])}-maps-${layer}.png`;
  }
  const total = pictures.length;
  const shown = pictures.slice(0, limit).map((p) => enlarge(p, enlargement(p, 48)));
  await ensureDirectory(out, '--out');
  const path = join(out, name);
  await writePng(path, grid(shown, { gap: 2, background: 255 }));
  console.log(
    `${kind === 'filters' ? 'filters' : 'feature maps'} of ${layer} (${shown.length}${total > shown.length ? ` of ${total}` : ''}, ` +
      `${pictures[0].width}×${pictures[0].height}): wrote ${path}`,
  );
}
