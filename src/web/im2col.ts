/**
 * One convolution as the lectures explain it: the image patches unrolled into columns (the backend's im2col) times
 * the filter rows gives the output maps. Shows the numbers of a small window of that product.
 */
import { analysis, getBackend, nn, type Tensor } from '../browser.js';
import { element, pictureCanvas } from './pictures.js';

/** How many columns (output positions) and filters the window shows; rows: up to MAX_ROWS of the patch. */
const COLUMNS = 4;
const FILTERS = 4;
const MAX_ROWS = 27;

type Attrs = Parameters<ReturnType<typeof getBackend>['im2col']>[3];

/** [top, bottom, left, right] as PyTorch pads: 'same' puts the odd pixel after. */
function paddingOf(conv: nn.Conv2d): [number, number, number, number] {
  if (conv.padding === 'valid') return [0, 0, 0, 0];
  if (conv.padding === 'same') {
    const [top, left] = conv.kernelSize.map((k, i) => Math.floor((conv.dilation[i] * (k - 1)) / 2));
    const [bottom, right] = conv.kernelSize.map(
      (k, i) => conv.dilation[i] * (k - 1) - (i === 0 ? top : left),
    );
    return [top, bottom, left, right];
  }
  return [conv.padding[0], conv.padding[0], conv.padding[1], conv.padding[1]];
}

/** The input with the patch of output position (row, column) boxed: the first column of the window. */
function patchPicture(
  x: Tensor,
  column: number,
  row: number,
  conv: nn.Conv2d,
  attrs: Attrs,
): HTMLElement | null {
  const [, channels, height, width] = x.shape;
  const box = {
    top: row * attrs.stride[0] - attrs.padding[0],
    left: column * attrs.stride[1] - attrs.padding[2],
    height: conv.dilation[0] * (conv.kernelSize[0] - 1) + 1,
    width: conv.dilation[1] * (conv.kernelSize[1] - 1) + 1,
  };
  const inside =
    box.top >= 0 && box.left >= 0 && box.top + box.height <= height && box.left + box.width <= width;
  if (!inside || (channels !== 1 && channels !== 3)) return null;
  const picture = analysis.drawBox(analysis.imagePicture(x), box, [230, 60, 40]);
  const scale = Math.max(1, Math.floor(160 / Math.max(height, width)));
  return element(
    'figure',
    'patch',
    pictureCanvas(picture, scale, 'the input, with the first column’s patch'),
    element('figcaption', 'note', `the patch of position (${row},${column}), the first column`),
  );
}

/** What the view shows, for the test hook: the input, the im2col call and the window's place. */
export interface Im2colWindow {
  input: number[];
  inputShape: number[];
  kernel: [number, number];
  attrs: Attrs;
  /** Row indices (patch elements) and column indices (output positions) shown, in order. */
  rows: number[];
  columns: number[];
  filters: number[];
}

const cell = (value: number, className = '') => element('td', className, value.toFixed(3));

/** Fills `target` with the window of columns, filter rows and their product for the convolution `conv` on x. */
export function showIm2col(target: HTMLElement, path: string, conv: nn.Conv2d, x: Tensor): Im2colWindow {
  const backend = getBackend();
  const [, channels, height, width] = x.shape;
  const kernel = conv.kernelSize;
  const attrs: Attrs = { stride: conv.stride, padding: paddingOf(conv), dilation: conv.dilation, groups: 1 };
  const storage = backend.im2col(x.storage, x.shape, kernel, attrs);
  const patch = channels * kernel[0] * kernel[1];
  const outH =
    Math.floor(
      (height + attrs.padding[0] + attrs.padding[1] - conv.dilation[0] * (kernel[0] - 1) - 1) /
        attrs.stride[0],
    ) + 1;
  const outW =
    Math.floor(
      (width + attrs.padding[2] + attrs.padding[3] - conv.dilation[1] * (kernel[1] - 1) - 1) /
        attrs.stride[1],
    ) + 1;
  const columnsAll = backend.read(storage, [1, patch, outH * outW]);
  backend.release(storage);
  const weights = conv.weight.data();
  const bias = conv.bias?.data() ?? null;
  const row = Math.floor(outH / 2);
  const first = Math.max(0, Math.floor(outW / 2) - COLUMNS / 2);
  const columns = Array.from({ length: Math.min(COLUMNS, outW) }, (_, i) => row * outW + first + i);
  const rows = Array.from({ length: Math.min(MAX_ROWS, patch) }, (_, i) => i);
  const filters = Array.from({ length: Math.min(FILTERS, conv.outChannels) }, (_, i) => i);
  const column = (r: number, c: number) => columnsAll[r * outH * outW + c];
  const weight = (f: number, r: number) => weights[f * patch + r];
  const product = (f: number, c: number) => {
    let sum = bias === null ? 0 : bias[f];
    for (let r = 0; r < patch; r++) sum += weight(f, r) * column(r, c);
    return sum;
  };
  const rowLabel = (r: number) => {
    const c = Math.floor(r / (kernel[0] * kernel[1]));
    const k = r % (kernel[0] * kernel[1]);
    return `c${c} (${Math.floor(k / kernel[1])},${k % kernel[1]})`;
  };
  const position = (c: number) => `(${Math.floor(c / outW)},${c % outW})`;

  const columnsTable = element(
    'table',
    'numbers',
    element(
      'caption',
      '',
      `columns: ${rows.length} of ${patch} rows × ${columns.length} of ${outH * outW} positions`,
    ),
    element(
      'tr',
      '',
      element('th', '', 'patch element'),
      ...columns.map((c) => element('th', '', position(c))),
    ),
    ...rows.map((r) =>
      element(
        'tr',
        '',
        element('th', '', rowLabel(r)),
        ...columns.map((c) => cell(column(r, c), 'im2col-value')),
      ),
    ),
  );
  const filterTable = element(
    'table',
    'numbers',
    element(
      'caption',
      '',
      `filter rows: ${filters.length} of ${conv.outChannels} filters × ${rows.length} of ${patch}`,
    ),
    element('tr', '', element('th', '', 'filter'), ...rows.map((r) => element('th', '', rowLabel(r)))),
    ...filters.map((f) =>
      element('tr', '', element('th', '', `${f}`), ...rows.map((r) => cell(weight(f, r)))),
    ),
  );
  const productTable = element(
    'table',
    'numbers',
    element(
      'caption',
      '',
      `filter rows × columns${bias === null ? '' : ' + bias'} = output maps (all ${patch} rows summed)`,
    ),
    element('tr', '', element('th', '', 'filter'), ...columns.map((c) => element('th', '', position(c)))),
    ...filters.map((f) =>
      element(
        'tr',
        '',
        element('th', '', `${f}`),
        ...columns.map((c) => cell(product(f, c), 'im2col-output')),
      ),
    ),
  );
  const patchView = patchPicture(x, columns[0] % outW, row, conv, attrs);
  target.replaceChildren(
    element(
      'p',
      'note',
      `${path}: a ${kernel[0]}×${kernel[1]} convolution, ${channels} → ${conv.outChannels} channels, on ${height}×${width}. ` +
        `im2col lays each ${channels}×${kernel[0]}×${kernel[1]} patch out as a column of ${patch} numbers, one column per output ` +
        `position (${outH}×${outW}); the convolution is then one matrix product, ${conv.outChannels}×${patch} filter rows times ` +
        `${patch}×${outH * outW} columns. Below, output row ${row}.`,
    ),
    element('div', 'im2col-tables', ...(patchView === null ? [] : [patchView]), productTable, columnsTable),
    filterTable,
  );
  return {
    input: Array.from(x.data()),
    inputShape: [...x.shape],
    kernel: [kernel[0], kernel[1]],
    attrs,
    rows,
    columns,
    filters,
  };
}
