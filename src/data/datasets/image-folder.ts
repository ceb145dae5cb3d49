/**
 * An image folder as torchvision's ImageFolder lays it out: one sub-folder per class (classes in sorted order),
 * images anywhere below it. Images are decoded once, up front, with the optional package `sharp` (JPEG, PNG,
 * WebP, …), resized if asked, and kept as bytes in shared memory like the other built-in datasets, so workers
 * share them. That suits datasets of thousands of images, not ImageNet: imageFiles (image-files.ts) streams them.
 */
import { readdirSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { FormatError, ValueError } from '../../errors.js';
import { ByteImageDataset } from './dataset.js';
import { checkOptions } from '../../options.js';

/** Decoded pixels, interleaved (HWC), one byte a value. */
export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** Decodes one image file to CHW bytes with the given channels and size (sharp by default). */
export type ImageDecoder = (
  file: string,
  options: { channels: 1 | 3; size: [number, number] | undefined },
) => Promise<DecodedImage>;

/** How imageFolder reads its images. */
export interface ImageFolderOptions {
  /** Resize every image to [height, width] (covering it, then centre-cropping); needed when sizes differ. */
  size?: number | readonly [number, number];
  /** 3 for RGB (default), 1 for grey. */
  channels?: 1 | 3;
  extensions?: readonly string[];
  /** Images decoded at once (default 2: this machine's cores). */
  concurrency?: number;
  /** Replaces sharp, e.g. to read another format. */
  decode?: ImageDecoder;
}

const DEFAULT_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.bmp'];

interface SharpPipeline {
  metadata(): Promise<{ width?: number; height?: number; channels?: number; hasAlpha?: boolean }>;
  removeAlpha(): SharpPipeline;
  toColourspace(space: string): SharpPipeline;
  resize(width: number, height: number, options: { fit: string }): SharpPipeline;
  raw(): SharpPipeline;
  toBuffer(options: {
    resolveWithObject: true;
  }): Promise<{ data: Uint8Array; info: { width: number; height: number; channels: number } }>;
}

async function loadSharp(): Promise<(file: string) => SharpPipeline> {
  try {
    // A variable keeps TypeScript from requiring sharp's types: it is an optional dependency.
    const name = 'sharp';
    return ((await import(name)) as { default: (file: string) => SharpPipeline }).default;
  } catch (error) {
    throw new ValueError(
      `imageFolder decodes images with the optional package sharp, which is not installed ` +
        `(npm install sharp): ${(error as Error).message}`,
    );
  }
}

/** An image file's own [channels, height, width] (alpha not counted), from its header. */
export async function imageFileShape(file: string): Promise<[number, number, number]> {
  const sharp = await loadSharp();
  const { width, height, channels, hasAlpha } = await sharp(file).metadata();
  if (width === undefined || height === undefined || channels === undefined)
    throw new FormatError(`${file}: not an image whose size can be read`);
  return [channels - (hasAlpha ? 1 : 0), height, width];
}

/** The decoder imageFolder uses by default: the optional package sharp, or a clear error when it is missing. */
export async function sharpDecoder(): Promise<ImageDecoder> {
  const sharp = await loadSharp();
  return async (file, { channels, size }) => {
    let pipeline = sharp(file)
      .removeAlpha()
      .toColourspace(channels === 1 ? 'b-w' : 'srgb');
    if (size) pipeline = pipeline.resize(size[1], size[0], { fit: 'cover' });
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: info.channels };
  };
}

function walk(dir: string, extensions: readonly string[]): string[] {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path, extensions);
    return extensions.includes(extname(entry.name).toLowerCase()) ? [path] : [];
  });
}

/** The class sub-folders of `root` (sorted) and every image file below them with its class's index. */
export function listImageFolder(
  root: string,
  extensions: readonly string[] = DEFAULT_EXTENSIONS,
): { classNames: string[]; files: { path: string; label: number }[] } {
  let classNames: string[];
  try {
    classNames = readdirSync(root, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    throw new ValueError(`imageFolder: cannot read ${root} (${(error as Error).message})`);
  }
  if (classNames.length === 0) throw new ValueError(`imageFolder: ${root} has no class sub-folders`);
  const files: { path: string; label: number }[] = classNames.flatMap((name, label) =>
    walk(join(root, name), extensions).map((path) => ({ path, label })),
  );
  if (files.length === 0) {
    throw new ValueError(`imageFolder: no ${extensions.join('/')} files under the class folders of ${root}`);
  }
  return { classNames, files };
}

/**
 * A dataset from a folder with one subfolder per class (torchvision's ImageFolder): images decoded by sharp,
 * resized to `size`, classes in sorted order.
 */
export async function imageFolder(root: string, options: ImageFolderOptions = {}): Promise<ByteImageDataset> {
  checkOptions('data.imageFolder', options, {
    size: true,
    channels: true,
    extensions: true,
    concurrency: true,
    decode: true,
  });
  const channels = options.channels ?? 3;
  const size: [number, number] | undefined =
    options.size === undefined
      ? undefined
      : typeof options.size === 'number'
        ? [options.size, options.size]
        : [options.size[0], options.size[1]];
  const { classNames, files } = listImageFolder(root, options.extensions);
  const decode = options.decode ?? (await sharpDecoder());

  const decoded: DecodedImage[] = new Array(files.length);
  let next = 0;
  const decodeNext = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      try {
        decoded[i] = await decode(files[i].path, { channels, size });
      } catch (error) {
        if (error instanceof ValueError) throw error;
        throw new FormatError(`${files[i].path}: cannot decode (${(error as Error).message})`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 2) }, decodeNext));

  const { height, width } = decoded[0];
  const plane = height * width;
  const imageSize = channels * plane;
  const pixels = new Uint8Array(new SharedArrayBuffer(files.length * imageSize));
  decoded.forEach((image, i) => {
    if (image.height !== height || image.width !== width || image.channels !== channels) {
      throw new FormatError(
        `${files[i].path}: decoded to ${image.height}×${image.width}×${image.channels}, but ` +
          `${relative(root, files[0].path)} to ${height}×${width}×${channels}; pass { size } to resize them all`,
      );
    }
    // HWC (as decoders give) to CHW.
    const out = i * imageSize;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < channels; c++) pixels[out + c * plane + p] = image.data[p * channels + c];
    }
  });
  const labels = Int32Array.from(files, (file) => file.label);
  return new ByteImageDataset(`imageFolder ${root}`, pixels, labels, [channels, height, width], classNames);
}
