/**
 * Turning tensors into pictures: images and maps scaled to bytes, heat maps in a named colour map, overlays,
 * grids, crops and boxes. Pictures are 8-bit RGB unless said otherwise; encodePng writes them.
 */
import { ValueError, formatShape } from '../errors.js';
import { interpolate, noGrad, reshape, scope, type Tensor } from '../tensor/index.js';
import type { Picture } from './png.js';

/**
 * 'jet' (blue → cyan → yellow → red, MATLAB's, as in the Grad-CAM paper's figures), 'hot' (black → red → yellow →
 * white) and 'gray'.
 */
export type ColourMap = 'jet' | 'hot' | 'gray';
/** Every colour map's name. */
export const COLOUR_MAPS: readonly ColourMap[] = ['jet', 'hot', 'gray'];

const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));

/** The colour of t ∈ [0, 1] as [r, g, b] bytes. */
export function colourOf(map: ColourMap, t: number): [number, number, number] {
  const v = clamp01(t);
  let rgb: [number, number, number];
  if (map === 'jet')
    rgb = [
      clamp01(1.5 - Math.abs(4 * v - 3)),
      clamp01(1.5 - Math.abs(4 * v - 2)),
      clamp01(1.5 - Math.abs(4 * v - 1)),
    ];
  else if (map === 'hot') rgb = [clamp01(3 * v), clamp01(3 * v - 1), clamp01(3 * v - 2)];
  else if (map === 'gray') rgb = [v, v, v];
  else throw new ValueError(`unknown colour map '${String(map)}'; known: ${COLOUR_MAPS.join(', ')}`);
  return rgb.map((c) => Math.round(255 * c)) as [number, number, number];
}

/** The values that map to the two ends of a scale. */
export interface Range {
  /** Values at or below min take the first colour, at or above max the last; the data's own range when absent. */
  min?: number;
  /** See min. */
  max?: number;
}

function rangeOf(values: ArrayLike<number>, range: Range): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  return [range.min ?? lo, range.max ?? hi];
}

/** (v − min) / (max − min), or 0 everywhere when the range is empty (a map of zeros stays the first colour). */
function normaliser(lo: number, hi: number): (v: number) => number {
  return hi > lo ? (v) => (v - lo) / (hi - lo) : () => 0;
}

/**
 * An image tensor [C, H, W] or [1, C, H, W] with 1 or 3 channels as a grey or RGB picture, its values scaled from
 * their range (or the one given) to 0…255: a normalised input shows with its full contrast.
 */
export function imagePicture(image: Tensor, range: Range = {}): Picture {
  const shape = image.rank === 4 && image.shape[0] === 1 ? image.shape.slice(1) : image.shape;
  if (shape.length !== 3 || (shape[0] !== 1 && shape[0] !== 3))
    throw new ValueError(
      `imagePicture: expects [C, H, W] with 1 or 3 channels, got ${formatShape(image.shape)}`,
    );
  const [channels, height, width] = shape;
  const values = image.data();
  const scale = normaliser(...rangeOf(values, range));
  const data = new Uint8Array(height * width * channels);
  for (let c = 0; c < channels; c++)
    for (let p = 0; p < height * width; p++)
      data[p * channels + c] = Math.round(255 * clamp01(scale(values[c * height * width + p])));
  return { width, height, channels: channels as 1 | 3, data };
}

/** A heat map's range, colours and size. */
export interface HeatMapOptions extends Range {
  /** 'jet' by default. */
  colourMap?: ColourMap;
  /** [height, width] to resize the map to (bilinearly, as PyTorch's interpolate); its own size when absent. */
  size?: readonly [number, number];
}

/**
 * A map [H', W'] as an RGB picture in a colour map ('jet' by default). Its range defaults to [min(0, smallest),
 * largest], so a ReLU'd map keeps 0 at the cold end and a map of drops shows negative values colder still.
 */
export function heatMap(map: Tensor, options: HeatMapOptions = {}): Picture {
  if (map.rank !== 2) throw new ValueError(`heatMap: expects a map [H, W], got ${formatShape(map.shape)}`);
  const [h, w] = options.size ?? [map.shape[0], map.shape[1]];
  const values =
    h === map.shape[0] && w === map.shape[1]
      ? map.data()
      : noGrad(() =>
          scope(() =>
            interpolate(reshape(map, [1, 1, ...map.shape]), { size: [h, w], mode: 'bilinear' }).data(),
          ),
        );
  const [lo, hi] = rangeOf(values, {});
  const scale = normaliser(options.min ?? Math.min(0, lo), options.max ?? hi);
  const colourMap = options.colourMap ?? 'jet';
  const data = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++) data.set(colourOf(colourMap, scale(values[p])), p * 3);
  return { width: w, height: h, channels: 3, data };
}

/** The picture as RGB (grey repeated in each channel; alpha dropped). */
export function toRgb(picture: Picture): Picture {
  if (picture.channels === 3) return picture;
  const { width, height, channels, data } = picture;
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++)
    for (let c = 0; c < 3; c++) out[p * 3 + c] = data[p * channels + (channels >= 3 ? c : 0)];
  return { width, height, channels: 3, data: out };
}

/** heat · alpha + image · (1 − alpha), pixel by pixel: the usual Grad-CAM figure. Both must be the same size. */
export function overlay(image: Picture, heat: Picture, alpha = 0.5): Picture {
  if (image.width !== heat.width || image.height !== heat.height)
    throw new ValueError(
      `overlay: image ${image.width}×${image.height} and heat map ${heat.width}×${heat.height} differ in size`,
    );
  const base = toRgb(image).data;
  const top = toRgb(heat).data;
  const data = base.map((v, i) => Math.round(top[i] * alpha + v * (1 - alpha)));
  return { width: image.width, height: image.height, channels: 3, data };
}

/** Each pixel repeated factor × factor times: small filters and maps made visible without blurring them. */
export function enlarge(picture: Picture, factor: number): Picture {
  if (!Number.isInteger(factor) || factor < 1)
    throw new ValueError(`enlarge: factor must be a positive integer, got ${factor}`);
  const { width, height, channels, data } = picture;
  const out = new Uint8Array(width * height * channels * factor * factor);
  const outWidth = width * factor;
  for (let y = 0; y < height * factor; y++)
    for (let x = 0; x < outWidth; x++) {
      const from = (Math.floor(y / factor) * width + Math.floor(x / factor)) * channels;
      out.set(data.subarray(from, from + channels), (y * outWidth + x) * channels);
    }
  return { width: outWidth, height: height * factor, channels, data: out };
}

/** A rectangle of pixels: its top-left corner and size. */
export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** The part of a picture inside a box (which must lie within it). */
export function crop(picture: Picture, box: Box): Picture {
  const { top, left, height, width } = box;
  if (
    top < 0 ||
    left < 0 ||
    height < 1 ||
    width < 1 ||
    top + height > picture.height ||
    left + width > picture.width
  )
    throw new ValueError(
      `crop: box ${width}×${height} at (${left}, ${top}) is not inside ${picture.width}×${picture.height}`,
    );
  const { channels } = picture;
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * picture.width + left) * channels;
    data.set(picture.data.subarray(from, from + width * channels), y * width * channels);
  }
  return { width, height, channels, data };
}

/** An RGB copy with a one-pixel rectangle drawn along the box's edge. */
export function drawBox(
  picture: Picture,
  box: Box,
  colour: readonly [number, number, number] = [255, 0, 0],
): Picture {
  const out = toRgb(picture);
  const data = out === picture ? picture.data.slice() : out.data;
  const paint = (y: number, x: number): void => data.set(colour, (y * out.width + x) * 3);
  const bottom = box.top + box.height - 1;
  const right = box.left + box.width - 1;
  for (let x = box.left; x <= right; x++) [box.top, bottom].forEach((y) => paint(y, x));
  for (let y = box.top; y <= bottom; y++) [box.left, right].forEach((x) => paint(y, x));
  return { ...out, data };
}

/** How grid lays pictures out. */
export interface GridOptions {
  /** Pictures per row; about the square root of the count when absent. */
  columns?: number;
  /** Pixels between pictures and around them; 2 by default. */
  gap?: number;
  /** The gaps' grey level; 255 (white) by default. */
  background?: number;
}

/** Pictures laid out in rows on one RGB sheet, each cell the size of the largest, pictures at its top left. */
export function grid(pictures: readonly Picture[], options: GridOptions = {}): Picture {
  if (pictures.length === 0) throw new ValueError('grid: no pictures to lay out');
  const columns = options.columns ?? Math.ceil(Math.sqrt(pictures.length));
  const gap = options.gap ?? 2;
  const cellWidth = Math.max(...pictures.map((p) => p.width));
  const cellHeight = Math.max(...pictures.map((p) => p.height));
  const rows = Math.ceil(pictures.length / columns);
  const width = columns * cellWidth + (columns + 1) * gap;
  const height = rows * cellHeight + (rows + 1) * gap;
  const data = new Uint8Array(width * height * 3).fill(options.background ?? 255);
  pictures.forEach((picture, i) => {
    const rgb = toRgb(picture);
    const top = gap + Math.floor(i / columns) * (cellHeight + gap);
    const left = gap + (i % columns) * (cellWidth + gap);
    for (let y = 0; y < rgb.height; y++)
      data.set(rgb.data.subarray(y * rgb.width * 3, (y + 1) * rgb.width * 3), ((top + y) * width + left) * 3);
  });
  return { width, height, channels: 3, data };
}

/**
 * A convolution's filters [O, I, kH, kW] as pictures, one per output channel: in colour when I = 3 (a first layer
 * on RGB), else grey from the mean over input channels. All share one range (the weights' symmetric largest
 * magnitude), so grey 128 is 0 in each and their contrasts compare.
 */
export function filterPictures(weight: Tensor): Picture[] {
  if (weight.rank !== 4)
    throw new ValueError(`filterPictures: expects [O, I, kH, kW], got ${formatShape(weight.shape)}`);
  const [outputs, inputs, kh, kw] = weight.shape;
  const values = weight.data();
  const channels = inputs === 3 ? 3 : 1;
  const pixel = (o: number, i: number, p: number): number => values[(o * inputs + i) * kh * kw + p];
  const shown = (o: number, c: number, p: number): number => {
    if (channels === 3) return pixel(o, c, p);
    let total = 0;
    for (let i = 0; i < inputs; i++) total += pixel(o, i, p);
    return total / inputs;
  };
  const all = Array.from({ length: outputs }, (_, o) =>
    Float32Array.from({ length: channels * kh * kw }, (_, k) =>
      shown(o, k % channels, Math.floor(k / channels)),
    ),
  );
  const largest = Math.max(...all.map((f) => Math.max(...f.map(Math.abs))));
  const scale = normaliser(-largest, largest);
  return all.map((f) => ({
    width: kw,
    height: kh,
    channels: channels as 1 | 3,
    data: Uint8Array.from(f, (v) => Math.round(255 * clamp01(scale(v)))),
  }));
}

/** The channels of one feature map [1, C, H, W] (or [C, H, W]) as grey pictures, each scaled to its own range. */
export function featureMapPictures(maps: Tensor): Picture[] {
  const shape = maps.rank === 4 && maps.shape[0] === 1 ? maps.shape.slice(1) : maps.shape;
  if (shape.length !== 3)
    throw new ValueError(
      `featureMapPictures: expects [1, C, H, W] or [C, H, W], got ${formatShape(maps.shape)}`,
    );
  const [channels, height, width] = shape;
  const values = maps.data();
  return Array.from({ length: channels }, (_, c) => {
    const channel = values.subarray(c * height * width, (c + 1) * height * width);
    const scale = normaliser(...rangeOf(channel, {}));
    return {
      width,
      height,
      channels: 1 as const,
      data: Uint8Array.from(channel, (v) => Math.round(255 * clamp01(scale(v)))),
    };
  });
}
