/**
 * `convnets report <run-dir>`: one self-contained HTML page about a training run, its pictures inlined: the training
 * chart, the test set's confusion matrix as a picture, per-class accuracy, the first layer's filters, feature maps,
 * Grad-CAM for test images of each class (right and wrong) and the model's summary table.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValueError } from '../errors.js';
import {
  encodePng,
  enlarge,
  featureMapPictures,
  featureMaps,
  filterPictures,
  filters,
  formatSummary,
  gradCam,
  grid,
  heatMap,
  imagePicture,
  lastConvolution,
  overlay,
  summary,
  type Picture,
} from '../analysis/index.js';
import { writeAtomic } from '../io/common.js';
import * as models from '../models/index.js';
import { Conv2d, type Module } from '../nn/index.js';
import { transforms } from '../data/index.js';
import { Generator, crossEntropy, noGrad, scope, tensor, type Tensor } from '../tensor/index.js';
import { ClassificationMetrics, loadTrained, type EvaluationResult, type Trained } from '../train/index.js';
import { UsageError, defineCommand, type Parsed } from './command.js';
import { requireParentDirectory } from './files.js';
import { checkpointTestSet, limited, numberOption } from './train-setup.js';

const options = {
  out: { value: 'FILE', help: 'the HTML file written', default: '<run-dir>/report.html' },
  limit: { value: 'N', help: 'test on the first N images only', default: 'all' },
  examples: { value: 'N', help: 'Grad-CAM pictures per class, right and wrong each', default: '1' },
};

export const reportCommand = defineCommand({
  name: 'report',
  summary: 'one self-contained HTML page about a training run: chart, confusion matrix, filters, Grad-CAM',
  synopsis: ['<run-dir> [--out FILE] [--limit N] [--examples N]'],
  description:
    'Tests the checkpoint on its data set (as eval does) and writes one HTML file with every picture inlined:\n' +
    "the training chart, the confusion matrix, per-class accuracy, the first convolution's filters and maps, Grad-CAM\n" +
    "at the model's featureLayer for right and wrong test images of each class, and the summary table.",
  options,
  examples: ['convnets report runs/lenet5', 'convnets report runs/resnet20 --limit 1000 --out resnet20.html'],
  run: runReport,
});

interface Tested {
  index: number;
  label: number;
  predicted: number;
}

const dataUri = (picture: Picture): string =>
  `data:image/png;base64,${Buffer.from(encodePng(picture)).toString('base64')}`;

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const percent = (x: number): string => (Number.isNaN(x) ? '–' : `${(100 * x).toFixed(2)} %`);

async function runReport({ values, positionals }: Parsed<typeof options>): Promise<void> {
  if (positionals.length !== 1) throw new UsageError('name one training run directory');
  const limit =
    values.limit === undefined
      ? undefined
      : numberOption('limit', values.limit, 0, { integer: true, min: 1 });
  const perClass = numberOption('examples', values.examples, 1, { integer: true, min: 1 });
  const { out, metrics, model } = await writeRunReport(positionals[0], { out: values.out, limit, perClass });
  console.log(`${model}: test accuracy ${percent(metrics.top1)} on ${metrics.samples} images; wrote ${out}`);
}

/**
 * Writes the HTML report of a training run (`convnets report`, and `convnets train` at its end): the checkpoint
 * tested on its data's test set, with every picture inlined. `out` defaults to report.html in the run directory.
 */
export async function writeRunReport(
  run: string,
  { out: outOption, limit, perClass = 1 }: { out?: string; limit?: number; perClass?: number },
): Promise<{ out: string; metrics: EvaluationResult; model: string }> {
  const trained = await loadTrained(run);
  const out = outOption ?? join(trained.dir, '..', 'report.html');
  await requireParentDirectory(out, '--out');
  if (trained.meta.data === undefined)
    throw new ValueError(
      `${trained.dir} does not name its data (a train.fit checkpoint): nothing to test it on`,
    );
  const testSet = limited(checkpointTestSet(trained, trained.meta.data).test, limit);
  const transform = transforms.makeTransform(trained.transform);
  const generator = new Generator(0);
  const input = (i: number): Tensor => {
    const [c, h, w] = testSet.shape;
    const [image] = transform({ data: testSet.get(i).image, channels: c, height: h, width: w }, generator);
    return tensor(image.data, [1, image.channels, image.height, image.width]);
  };
  const { metrics, tested } = test(
    trained.model,
    testSet.length,
    input,
    (i) => testSet.get(i).label,
    testSet.numClasses,
  );
  const names = testSet.classNames;
  const chart = await readFile(join(trained.dir, '..', 'chart.svg'), 'utf8').catch(() => null);
  const first = trained.model.namedModules().find(([, m]) => m instanceof Conv2d)?.[0];
  const layer = models.info(trained.meta.model).featureLayer ?? lastConvolution(trained.model);
  const x0 = input(0);
  const sections = [
    `<h1>${escape(trained.meta.model)} on ${escape(trained.meta.data ?? 'its data')}</h1>`,
    `<p>Epoch ${trained.epoch}; test accuracy <b>${percent(metrics.top1)}</b> on ${metrics.samples} images ` +
      `(top-5 ${percent(metrics.top5)}, loss ${metrics.loss.toFixed(4)}).</p>`,
    chart === null
      ? ''
      : `<h2>Training</h2>\n<img alt="loss and accuracy per epoch" src="data:image/svg+xml;base64,${Buffer.from(chart).toString('base64')}">`,
    '<h2>Confusion matrix</h2>',
    `<p>Rows: true class; columns: predicted; brighter is a larger share of the row.</p>`,
    confusionPicture(metrics.confusion, names),
    '<h2>Per-class accuracy</h2>',
    table(
      ['class', 'name', 'accuracy', 'images'],
      metrics.perClass.map((a, c) => [
        String(c),
        escape(names[c] ?? ''),
        percent(a),
        String(metrics.confusion[c].reduce((s, n) => s + n, 0)),
      ]),
    ),
    ...(first === undefined
      ? []
      : [
          `<h2>Filters of ${escape(first)}</h2>`,
          img(
            `filters of ${first}`,
            grid(
              filterPictures(filters(trained.model, first)).map((p) =>
                enlarge(p, Math.max(1, Math.ceil(40 / p.width))),
              ),
            ),
          ),
          `<h2>Feature maps of ${escape(first)} for test image 0 (${escape(names[testSet.get(0).label] ?? '')})</h2>`,
          img(
            'feature maps',
            grid(
              featureMapPictures(featureMaps(trained.model, x0, [first]).get(first)!)
                .slice(0, 64)
                .map((p) => enlarge(p, Math.max(1, Math.ceil(64 / p.width)))),
            ),
          ),
        ]),
    `<h2>Grad-CAM at ${escape(layer)}</h2>`,
    '<p>For each class, test images the model classified right and wrong, with the map of the class it chose.</p>',
    gradCamGallery(trained, tested, input, layer, names, perClass),
    '<h2>Summary</h2>',
    `<pre>${escape(formatSummary(summary(trained.model, x0.shape)))}</pre>`,
  ];
  const html =
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<title>${escape(trained.meta.model)} report</title>` +
    '<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}' +
    'table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}' +
    'figure{display:inline-block;margin:4px;text-align:center;font-size:12px}img{image-rendering:pixelated}' +
    'pre{font-size:12px;overflow-x:auto}</style></head><body>\n' +
    sections.filter((s) => s !== '').join('\n') +
    '\n</body></html>\n';
  await writeAtomic(out, (sink) => sink.write(new TextEncoder().encode(html)));
  return { out, metrics, model: trained.meta.model };
}

/** Every test image through the model in batches of one forward pass each 256: metrics and each prediction. */
function test(
  model: Module,
  length: number,
  input: (i: number) => Tensor,
  label: (i: number) => number,
  classes: number,
): { metrics: EvaluationResult; tested: Tested[] } {
  const metrics = new ClassificationMetrics(classes);
  const tested: Tested[] = [];
  model.eval();
  for (let first = 0; first < length; first += 256) {
    const count = Math.min(256, length - first);
    noGrad(() =>
      scope(() => {
        const images = Array.from({ length: count }, (_, b) => input(first + b));
        const [, c, h, w] = images[0].shape;
        const batch = new Float32Array(count * c * h * w);
        images.forEach((image, b) => batch.set(image.data(), b * c * h * w));
        const labels = Int32Array.from({ length: count }, (_, b) => label(first + b));
        const logits = model.call(tensor(batch, [count, c, h, w]));
        const loss = crossEntropy(logits, tensor(labels, [count])).item();
        const values = logits.data();
        metrics.update(values, labels, loss);
        for (let b = 0; b < count; b++) {
          let best = 0;
          for (let k = 1; k < classes; k++)
            if (values[b * classes + k] > values[b * classes + best]) best = k;
          tested.push({ index: first + b, label: labels[b], predicted: best });
        }
      }),
    );
  }
  return { metrics: metrics.result(), tested };
}

function img(alt: string, picture: Picture): string {
  return `<img alt="${escape(alt)}" width="${picture.width}" height="${picture.height}" src="${dataUri(picture)}">`;
}

function table(header: string[], rows: string[][]): string {
  const head = `<tr>${header.map((h) => `<th>${h}</th>`).join('')}</tr>`;
  return `<table>${head}${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</table>`;
}

/** Each row scaled by its count, in the 'hot' colour map, one 24-pixel square a cell, with the class names beside. */
function confusionPicture(confusion: number[][], names: readonly string[]): string {
  const shares = confusion.flatMap((row) => {
    const total = row.reduce((s, n) => s + n, 0);
    return row.map((n) => (total === 0 ? 0 : n / total));
  });
  const picture = enlarge(
    heatMap(tensor(shares, [confusion.length, confusion.length]), { colourMap: 'hot', min: 0, max: 1 }),
    24,
  );
  const legend = names.map((n, c) => `${c} ${escape(n)}`).join('<br>');
  return `<div style="display:flex;gap:1em;align-items:flex-start">${img('confusion matrix', picture)}<p style="line-height:24px;margin:0">${legend}</p></div>`;
}

function gradCamGallery(
  trained: Trained,
  tested: readonly Tested[],
  input: (i: number) => Tensor,
  layer: string,
  names: readonly string[],
  perClass: number,
): string {
  const figures: string[] = [];
  for (let c = 0; c < names.length; c++) {
    const right = tested.filter((t) => t.label === c && t.predicted === c).slice(0, perClass);
    const wrong = tested.filter((t) => t.label === c && t.predicted !== c).slice(0, perClass);
    for (const t of [...right, ...wrong]) {
      const x = input(t.index);
      const picture = imagePicture(x);
      const factor = Math.max(1, Math.ceil(96 / picture.width));
      const shown = enlarge(picture, factor);
      const map = gradCam(trained.model, x, { layer, target: t.predicted }).map;
      const heat = heatMap(map, { size: [shown.height, shown.width] });
      const mark = t.label === t.predicted ? '✓' : '✗';
      figures.push(
        `<figure>${img(`test image ${t.index}`, overlay(shown, heat, 0.5))}<figcaption>${mark} #${t.index} ${escape(names[t.label] ?? String(t.label))}` +
          `${t.label === t.predicted ? '' : ` → ${escape(names[t.predicted] ?? String(t.predicted))}`}</figcaption></figure>`,
      );
    }
  }
  return `<div>${figures.join('')}</div>`;
}
