import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  colourOf,
  crop,
  drawBox,
  enlarge,
  featureMapPictures,
  filterPictures,
  grid,
  heatMap,
  imagePicture,
  overlay,
  type Picture,
} from '../../src/analysis/index.js';
import { tensor } from '../../src/tensor/index.js';

const rgb = (width: number, height: number, values: number[]): Picture => ({
  width,
  height,
  channels: 3,
  data: Uint8Array.from(values),
});

test('colour maps by their formulas: jet from dark blue through green to dark red, hot from black to white', () => {
  // jet: each channel is clamp(1.5 − |4t − c|) for c = 3 (red), 2 (green), 1 (blue).
  assert.deepEqual(colourOf('jet', 0), [0, 0, 128]);
  assert.deepEqual(colourOf('jet', 0.5), [128, 255, 128]);
  assert.deepEqual(colourOf('jet', 1), [128, 0, 0]);
  assert.deepEqual(colourOf('jet', 2), [128, 0, 0], 'clamped');
  assert.deepEqual(colourOf('hot', 0), [0, 0, 0]);
  assert.deepEqual(colourOf('hot', 0.5), [255, 128, 0]);
  assert.deepEqual(colourOf('hot', 1), [255, 255, 255]);
  assert.deepEqual(colourOf('gray', 0.25), [64, 64, 64]);
  assert.throws(() => colourOf('viridis' as 'jet', 0), /unknown colour map 'viridis'; known: jet, hot, gray/);
});

test('heatMap scales from min(0, smallest) to the largest, and resizes bilinearly', () => {
  const map = tensor(
    [
      [0, 1],
      [2, 4],
    ],
    [2, 2],
  );
  assert.deepEqual(
    [...heatMap(map, { colourMap: 'gray' }).data],
    [0, 0, 0, 64, 64, 64, 128, 128, 128, 255, 255, 255],
  );
  const drops = tensor([[-2, 2]], [1, 2]);
  assert.deepEqual([...heatMap(drops, { colourMap: 'gray' }).data], [0, 0, 0, 255, 255, 255]);
  // A 1×2 map [0, 4] at width 4: PyTorch's bilinear (align_corners false) samples at 0, 0.25, 0.75, 1 of the way.
  const wide = heatMap(tensor([[0, 4]], [1, 2]), { colourMap: 'gray', size: [1, 4] });
  assert.deepEqual(
    [...wide.data].filter((_, i) => i % 3 === 0),
    [0, 64, 191, 255],
  );
  assert.deepEqual([...heatMap(tensor([[0, 0]], [1, 2]), { colourMap: 'gray' }).data], [0, 0, 0, 0, 0, 0]);
});

test('imagePicture stretches an image to 0…255; overlay blends a heat map over it', () => {
  const grey = imagePicture(tensor([-1, 0, 1, 3], [1, 1, 2, 2]));
  assert.deepEqual(grey, { width: 2, height: 1 * 2, channels: 1, data: Uint8Array.of(0, 64, 128, 255) });
  const colour = imagePicture(tensor([0, 1, 0.5, 0.5, 1, 0], [3, 1, 2]));
  assert.deepEqual([...colour.data], [0, 128, 255, 255, 128, 0]);
  const blended = overlay(grey, rgb(2, 2, Array<number>(12).fill(200)), 0.25);
  assert.deepEqual([...blended.data], [50, 50, 50, 98, 98, 98, 146, 146, 146, 241, 241, 241]);
  assert.throws(() => overlay(grey, rgb(1, 1, [0, 0, 0])), /image 2×2 and heat map 1×1 differ in size/);
});

test('grid lays pictures out in rows with gaps; enlarge, crop and drawBox move the pixels they say', () => {
  const red = rgb(1, 1, [255, 0, 0]);
  const sheet = grid([red, red, red], { columns: 2, gap: 1, background: 0 });
  assert.deepEqual([sheet.width, sheet.height], [5, 5]);
  const at = (p: Picture, x: number, y: number): number[] => [
    ...p.data.subarray((y * p.width + x) * 3, (y * p.width + x) * 3 + 3),
  ];
  assert.deepEqual(
    [at(sheet, 1, 1), at(sheet, 3, 1), at(sheet, 1, 3), at(sheet, 3, 3), at(sheet, 2, 2)],
    [
      [255, 0, 0],
      [255, 0, 0],
      [255, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ],
  );
  const big = enlarge({ width: 2, height: 1, channels: 1, data: Uint8Array.of(1, 2) }, 2);
  assert.deepEqual([...big.data], [1, 1, 2, 2, 1, 1, 2, 2]);
  const counting: Picture = {
    width: 4,
    height: 3,
    channels: 1,
    data: Uint8Array.from({ length: 12 }, (_, i) => i),
  };
  assert.deepEqual([...crop(counting, { top: 1, left: 2, height: 2, width: 2 }).data], [6, 7, 10, 11]);
  assert.throws(
    () => crop(counting, { top: 2, left: 0, height: 2, width: 1 }),
    /box 1×2 at \(0, 2\) is not inside 4×3/,
  );
  const boxed = drawBox(counting, { top: 0, left: 1, height: 3, width: 3 }, [9, 9, 9]);
  const marked = [...Array(12).keys()].filter((i) => boxed.data[i * 3 + 1] === 9);
  assert.deepEqual(
    marked,
    [1, 2, 3, 5, 7, 9, 10, 11],
    'the edge of columns 1…3, rows 0…2, not its inside (6)',
  );
  assert.equal(counting.data[1], 1, 'the original is left alone');
});

test('filterPictures share one symmetric range (grey 128 is 0); feature maps each take their own', () => {
  const [first, second] = filterPictures(tensor([-1, 0, 0.5, 1, 0.25, 0.25, 0.25, 0.25], [2, 1, 2, 2]));
  assert.deepEqual([...first.data], [0, 128, 191, 255]);
  assert.deepEqual([...second.data], [159, 159, 159, 159]);
  // Three input channels show in colour: filter pixel p's RGB is the three inputs' weights at p.
  const [colour] = filterPictures(tensor([1, -1, 0, 0, -1, 1], [1, 3, 1, 2]));
  assert.deepEqual([colour.channels, ...colour.data], [3, 255, 128, 0, 0, 128, 255]);
  const maps = featureMapPictures(tensor([0, 1, 2, 3, 10, 10, 10, 30], [1, 2, 2, 2]));
  assert.deepEqual(
    maps.map((m) => [...m.data]),
    [
      [0, 85, 170, 255],
      [0, 0, 0, 255],
    ],
  );
});
