/**
 * The case-study explorer: a network (the shipped LeNet-5 trained on Fashion-MNIST, or any zoo model with random
 * weights), its layer table from the library's summary, an input (a test image of the subset, or a drawing), the
 * prediction, each layer's feature maps, the first layer's filters and the first convolution as im2col.
 */
import {
  analysis,
  models,
  nn,
  noGrad,
  softmax,
  summary,
  withBackend,
  type ModelSummary,
  type Tensor,
} from '../browser.js';
import { imageValues, loadWeights, type Subset, type WeightsFile } from './assets.js';
import { showIm2col, type Im2colWindow } from './im2col.js';
import { byId, count, element, greyPicture, pictureCanvas } from './pictures.js';
import { inputTransform, prepare } from './preprocess.js';

/** The choice of the network picker for the shipped weights. */
export const TRAINED_LENET5 = 'lenet5 (trained)';
/** Feature-map layers and channels shown per layer, at most: enough to see, few enough to draw at once. */
const MAX_LAYERS = 8;
const MAX_CHANNELS = 16;

export interface Network {
  name: string;
  model: nn.Module;
  inputShape: number[];
  classNames: readonly string[];
  weights: WeightsFile | null;
  summary: ModelSummary;
}

/** The explorer's state, which the test hook reads. */
export interface Explorer {
  network: Network | null;
  input: Float32Array | null;
  im2col: Im2colWindow | null;
  select(name: string): Promise<void>;
  show(image: Float32Array): void;
}

async function build(name: string, base: URL): Promise<Network> {
  if (name === TRAINED_LENET5) {
    const weights = await loadWeights(new URL('weights/lenet5-fashion-mnist.safetensors', base));
    const model = models.get(weights.meta.model, weights.meta.modelOptions);
    model.loadStateDict(weights.tensors);
    model.eval();
    const inputShape = [...models.info(weights.meta.model).inputShape];
    return {
      name,
      model,
      inputShape,
      classNames: weights.meta.classNames ?? [],
      weights,
      summary: summary(
        withBackend('meta', () => models.get(weights.meta.model, weights.meta.modelOptions)),
        inputShape,
      ),
    };
  }
  const info = models.info(name);
  const model = models.get(name, { seed: 1 }).eval();
  const inputShape = [...info.inputShape];
  return {
    name,
    model,
    inputShape,
    classNames: info.numClasses === 1000 ? models.IMAGENET_CLASSES : [],
    weights: null,
    summary: summary(
      withBackend('meta', () => models.get(name)),
      inputShape,
    ),
  };
}

function layerTable(network: Network): HTMLTableElement {
  const rows = network.summary.rows.filter((row) => row.depth > 0);
  return element(
    'table',
    'layers',
    element(
      'tr',
      '',
      ...['layer', 'type', 'output', 'parameters', 'MACs'].map((title) => element('th', '', title)),
    ),
    ...rows.map((row) =>
      element(
        'tr',
        row.trainableParameters + row.frozenParameters === 0 && row.macs === 0 ? 'quiet' : '',
        element('td', 'path', `${'\u2002'.repeat(row.depth - 1)}${row.path}`),
        element('td', '', row.type),
        element('td', '', row.outputShape.slice(1).join('×')),
        element('td', 'number', row.repeated ? '' : count(row.trainableParameters + row.frozenParameters)),
        element('td', 'number', count(row.macs)),
      ),
    ),
    element(
      'tr',
      'total',
      element('td', '', 'total'),
      element('td', '', ''),
      element('td', '', network.summary.outputShape.slice(1).join('×')),
      element('td', 'number', count(network.summary.totals.parameters)),
      element('td', 'number', count(network.summary.totals.macs)),
    ),
  );
}

/** Up to MAX_LAYERS modules with image-shaped outputs, spread over the network, each called once. */
function featureLayers(network: Network): string[] {
  const rows = network.summary.rows.filter(
    (row) => row.depth > 0 && row.outputShape.length === 4 && !row.repeated,
  );
  const paths = [...new Set(rows.map((row) => row.path))];
  if (paths.length <= MAX_LAYERS) return paths;
  return Array.from(
    { length: MAX_LAYERS },
    (_, i) => paths[Math.round((i * (paths.length - 1)) / (MAX_LAYERS - 1))],
  );
}

function firstConvolution(model: nn.Module): [string, nn.Conv2d] | null {
  const found = model.namedModules().find(([, module]: [string, nn.Module]) => module instanceof nn.Conv2d);
  return (found as [string, nn.Conv2d] | undefined) ?? null;
}

function showPrediction(network: Network, logits: Tensor): void {
  const probabilities = Array.from(noGrad(() => softmax(logits, 1)).data());
  const top = probabilities
    .map((p, i) => [p, i] as const)
    .sort((a, b) => b[0] - a[0])
    .slice(0, 5);
  byId('prediction').replaceChildren(
    ...top.map(([p, i]) =>
      element(
        'div',
        'bar-row',
        element('span', 'bar-label', network.classNames[i] ?? `class ${i}`),
        Object.assign(element('span', 'bar'), { style: `width: ${Math.max(1, 100 * p)}%` }),
        element('span', 'bar-value', `${(100 * p).toFixed(1)}%`),
      ),
    ),
  );
}

function showFeatures(network: Network, x: Tensor): void {
  const layers = featureLayers(network);
  const maps = analysis.featureMaps(network.model, x, layers);
  byId('features').replaceChildren(
    ...layers.map((path) => {
      const map = maps.get(path)!;
      const [, channels, height, width] = map.shape;
      const pictures = analysis.featureMapPictures(map).slice(0, MAX_CHANNELS);
      const scale = Math.max(1, Math.min(6, Math.floor(56 / Math.max(height, width))));
      map.dispose();
      return element(
        'div',
        'feature-layer',
        element(
          'div',
          'feature-title',
          `${path} — ${channels}×${height}×${width}${channels > MAX_CHANNELS ? ` (first ${MAX_CHANNELS})` : ''}`,
        ),
        element('div', 'tiles', ...pictures.map((p, c) => pictureCanvas(p, scale, `${path} channel ${c}`))),
      );
    }),
  );
}

function showFilters(network: Network): void {
  const first = firstConvolution(network.model);
  const target = byId('filters');
  if (first === null) {
    target.textContent = 'this network has no convolution';
    return;
  }
  const [path, conv] = first;
  const weight = analysis.filters(network.model, path);
  const pictures = analysis.filterPictures(weight).slice(0, 64);
  weight.dispose();
  const scale = Math.max(4, Math.floor(48 / conv.kernelSize[0]));
  target.replaceChildren(
    element(
      'p',
      'note',
      `${path}: ${conv.outChannels} filters of ${conv.inChannels}×${conv.kernelSize.join('×')}` +
        `${conv.outChannels > 64 ? ' (first 64)' : ''}; grey is 0, light positive, dark negative.`,
    ),
    element('div', 'tiles', ...pictures.map((p, i) => pictureCanvas(p, scale, `filter ${i}`))),
  );
}

export function setUpExplorer(base: URL, subset: Subset | string): Explorer {
  const picker = byId<HTMLSelectElement>('network');
  const note = byId('network-note');
  picker.replaceChildren(
    element('option', '', TRAINED_LENET5),
    ...models.list().map((info) =>
      Object.assign(element('option', '', `${info.name}`), {
        value: info.name,
        title: `${count(info.macs)} MACs`,
      }),
    ),
  );
  picker.options[0].value = TRAINED_LENET5;
  picker.options[0].textContent = 'LeNet-5, trained on Fashion-MNIST';
  for (const option of [...picker.options].slice(1)) option.textContent = `${option.value} (random weights)`;

  const explorer: Explorer = {
    network: null,
    input: null,
    im2col: null,
    async select(name) {
      note.textContent = `building ${name}…`;
      explorer.network = null;
      const network = await build(name, base);
      explorer.network = network;
      const weights = network.weights;
      note.textContent =
        weights === null
          ? `${name} with random weights: its layers, costs and maps are real, its predictions mean nothing. ` +
            `Inputs are the 28×28 images resized to ${network.inputShape.slice(1).join('×')}.`
          : `LeNet-5 trained by convnets train on Fashion-MNIST (${weights.epoch} epochs` +
            `${weights.testAccuracy === undefined ? '' : `, ${(100 * weights.testAccuracy).toFixed(2)}% on its 10,000 test images`}).`;
      byId('layers').replaceChildren(layerTable(network));
      showFilters(network);
      if (explorer.input !== null) explorer.show(explorer.input);
    },
    show(image) {
      explorer.input = image;
      byId('input-view').replaceChildren(pictureCanvas(greyPicture(image, 28, 28), 4, 'the input'));
      const network = explorer.network;
      if (network === null) return;
      const x = prepare([image], inputTransform(network.inputShape, network.weights?.meta ?? null));
      showPrediction(
        network,
        noGrad(() => network.model.call(x)),
      );
      showFeatures(network, x);
      const first = firstConvolution(network.model);
      if (first !== null) explorer.im2col = showIm2col(byId('im2col'), first[0], first[1], x);
      x.dispose();
    },
  };

  picker.addEventListener('change', () => {
    explorer.select(picker.value).catch((error: unknown) => {
      note.textContent = `could not build ${picker.value}: ${(error as Error).message}`;
    });
  });

  const gallery = byId('gallery');
  if (typeof subset === 'string') {
    gallery.replaceChildren(element('p', 'missing', subset));
  } else {
    gallery.replaceChildren(
      ...Array.from({ length: 24 }, (_, i) => {
        const values = imageValues(subset.test, i);
        const canvas = pictureCanvas(
          greyPicture(values, 28, 28),
          2,
          `test image ${i}: ${subset.classNames[subset.test.labels[i]]}`,
        );
        canvas.addEventListener('click', () => explorer.show(values));
        return canvas;
      }),
    );
  }
  setUpDrawing((image) => explorer.show(image));
  return explorer;
}

/** The drawing canvas: white strokes on black (as Fashion-MNIST's images are), read back at 28×28. */
function setUpDrawing(use: (image: Float32Array) => void): void {
  const canvas = byId<HTMLCanvasElement>('draw');
  const context = canvas.getContext('2d', { willReadFrequently: true })!;
  const clear = () => {
    context.fillStyle = 'black';
    context.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  let drawing = false;
  const point = (event: PointerEvent): [number, number] => {
    const box = canvas.getBoundingClientRect();
    return [
      ((event.clientX - box.left) * canvas.width) / box.width,
      ((event.clientY - box.top) * canvas.height) / box.height,
    ];
  };
  const small = document.createElement('canvas');
  small.width = 28;
  small.height = 28;
  const smallContext = small.getContext('2d', { willReadFrequently: true })!;
  const send = () => {
    smallContext.drawImage(canvas, 0, 0, 28, 28);
    const pixels = smallContext.getImageData(0, 0, 28, 28).data;
    use(Float32Array.from({ length: 28 * 28 }, (_, i) => pixels[i * 4] / 255));
  };
  canvas.addEventListener('pointerdown', (event) => {
    drawing = true;
    context.beginPath();
    context.moveTo(...point(event));
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!drawing) return;
    context.lineTo(...point(event));
    context.strokeStyle = 'white';
    context.lineWidth = 18;
    context.lineCap = 'round';
    context.lineJoin = 'round';
    context.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    send();
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointerleave', end);
  byId('draw-clear').addEventListener('click', () => {
    clear();
    send();
  });
}
