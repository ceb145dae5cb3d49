/** The library's pictures (analysis/'s grey or RGB bytes) drawn on canvases, and small DOM helpers. */
import type { analysis } from '../browser.js';

type Picture = analysis.Picture;

/** An element with a class and children, for the page's few generated parts. */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className !== '') node.className = className;
  node.append(...children);
  return node;
}

/** The element with `id`, which the page's HTML must have. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node as T;
}

/** A canvas showing `picture` at `scale` screen pixels per pixel, sharp (no smoothing). */
export function pictureCanvas(picture: Picture, scale: number, title = ''): HTMLCanvasElement {
  const canvas = element('canvas', 'picture');
  canvas.width = picture.width;
  canvas.height = picture.height;
  canvas.style.width = `${picture.width * scale}px`;
  canvas.style.height = `${picture.height * scale}px`;
  if (title !== '') canvas.title = title;
  const context = canvas.getContext('2d')!;
  const pixels = context.createImageData(picture.width, picture.height);
  for (let i = 0; i < picture.width * picture.height; i++) {
    const at = i * picture.channels;
    const [r, g, b] =
      picture.channels >= 3
        ? [picture.data[at], picture.data[at + 1], picture.data[at + 2]]
        : [picture.data[at], picture.data[at], picture.data[at]];
    pixels.data.set([r, g, b, 255], i * 4);
  }
  context.putImageData(pixels, 0, 0);
  return canvas;
}

/** A grey picture of values in [0, 1] (an image of the data set, before normalisation). */
export function greyPicture(values: Float32Array, width: number, height: number): Picture {
  return {
    width,
    height,
    channels: 1,
    data: Uint8Array.from(values, (v) => Math.round(255 * Math.min(1, Math.max(0, v)))),
  };
}

/** 1234567 → "1,234,567". */
export const count = (n: number): string => n.toLocaleString('en-US');
