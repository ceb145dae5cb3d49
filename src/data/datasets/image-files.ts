/**
 * An image folder streamed: the folder is listed up front (paths and labels only), and each image is decoded and
 * resized when a batch asks for it, in the loader's workers, so memory stays flat however many images there are.
 * An optional cache directory keeps each decoded, resized image as raw bytes, so later epochs skip the decoding.
 * A file that cannot be read or decoded is left out of its batch (the loader warns once, naming it), never a crash.
 *
 * The stated rules: every image is resized to cover [height, width] and centre-cropped (torchvision's
 * Resize(min side) + CenterCrop when the aspect ratios differ); alpha is dropped; grey images become RGB by copying
 * the grey value into R, G and B, and RGB images become grey by the ITU-R 601 luma (transforms.convertChannels).
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValueError } from '../../errors.js';
import { checkOptions } from '../../options.js';
import { LUMA_WEIGHTS } from '../transforms/functional.js';
import { registerDatasetKind, type Dataset, type DatasetSpec, type Fetched, type Sample } from './dataset.js';
import { imageFileShape, listImageFolder, sharpDecoder, type ImageDecoder } from './image-folder.js';

type Shape3 = readonly [number, number, number];

/** How imageFiles decodes a folder: the shape, an optional cache, the file extensions. */
export interface ImageFilesOptions {
  /** [channels, height, width] every image is decoded to: channels 1 or 3. */
  shape: Shape3;
  /** Keeps decoded, resized images here (created if missing); reused while a file's size and time are unchanged. */
  cacheDir?: string;
  extensions?: readonly string[];
}

/** Images at `files` with `labels`, decoded on demand to `shape` (see the top of this file). */
export class ImageFileDataset implements Dataset {
  readonly length: number;
  readonly shape: Shape3;
  readonly classNames: readonly string[];
  private readonly labels: Int32Array;
  private decoder: Promise<ImageDecoder> | undefined;

  constructor(
    readonly name: string,
    readonly files: readonly string[],
    labels: Int32Array,
    shape: Shape3,
    classNames: readonly string[],
    readonly cacheDir: string | null = null,
  ) {
    if (labels.length !== files.length)
      throw new ValueError(`${name}: ${labels.length} labels for ${files.length} files`);
    if (shape[0] !== 1 && shape[0] !== 3)
      throw new ValueError(`${name}: images decode to 1 or 3 channels, not ${shape[0]}`);
    this.length = files.length;
    this.shape = [shape[0], shape[1], shape[2]];
    this.classNames = [...classNames];
    this.labels = shareLabels(labels);
  }

  get numClasses(): number {
    return this.classNames.length;
  }

  get(index: number): Sample {
    throw new ValueError(
      `${this.name}: image ${index} is decoded when a loader asks for it; read it through data.loader(...) or fetch()`,
    );
  }

  async fetch(indices: Int32Array): Promise<Fetched[]> {
    this.decoder ??= sharpDecoder();
    const decode = await this.decoder;
    // One image at a time per worker: the loader's workers are the parallelism, and sharp's own pool is per process.
    const out: Fetched[] = [];
    for (const index of indices) {
      if (!(Number.isInteger(index) && index >= 0 && index < this.length))
        throw new ValueError(`${this.name}: index ${index} is outside 0..${this.length - 1}`);
      const file = this.files[index];
      try {
        out.push({ image: await this.pixels(file, decode), label: this.labels[index] });
      } catch (error) {
        out.push({ skipped: { file, reason: (error as Error).message.split('\n')[0] } });
      }
    }
    return out;
  }

  /** The image at `file` as CHW values in [0, 1]: from the cache, or decoded (and then cached). */
  private async pixels(file: string, decode: ImageDecoder): Promise<Float32Array> {
    const size = this.shape[0] * this.shape[1] * this.shape[2];
    const cached = this.cacheDir === null ? null : await this.cachePath(file);
    if (cached !== null) {
      const bytes = await readFile(cached).catch(() => null);
      if (bytes !== null && bytes.length === size) return Float32Array.from(bytes, (v) => v / 255);
    }
    const bytes = await decodeToShape(file, this.shape, decode);
    if (cached !== null) {
      const temporary = `${cached}.${process.pid}.tmp`;
      await writeFile(temporary, bytes);
      await rename(temporary, cached);
    }
    return Float32Array.from(bytes, (v) => v / 255);
  }

  /** The cache file of `file` at this shape: named by its path, size and modification time. */
  private async cachePath(file: string): Promise<string> {
    const info = await stat(file);
    const key = `${file}\0${info.size}\0${info.mtimeMs}\0${this.shape.join('x')}`;
    return join(this.cacheDir!, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.raw`);
  }

  toSpec(): DatasetSpec {
    return {
      kind: 'imageFiles',
      name: this.name,
      files: [...this.files],
      labels: this.labels.buffer as SharedArrayBuffer,
      shape: [...this.shape],
      classNames: [...this.classNames],
      cacheDir: this.cacheDir,
    };
  }
}

function shareLabels(labels: Int32Array): Int32Array {
  if (labels.buffer instanceof SharedArrayBuffer) return labels;
  const shared = new Int32Array(new SharedArrayBuffer(labels.byteLength));
  shared.set(labels);
  return shared;
}

/** `file` decoded to CHW bytes of `shape` by the rules at the top of this file. */
async function decodeToShape(file: string, shape: Shape3, decode: ImageDecoder): Promise<Uint8Array> {
  const [channels, height, width] = shape;
  const decoded = await decode(file, { channels: 3, size: [height, width] });
  if (decoded.width !== width || decoded.height !== height)
    throw new ValueError(`decoded to ${decoded.height}×${decoded.width}, not ${height}×${width}`);
  return toChw(decoded.data, decoded.channels, channels, height * width);
}

/**
 * One image file as an image folder's loader would give it at `shape` (CHW values from 0 to 1), and the file's own
 * channels, height and width: `convnets predict` prepares single images this way.
 */
export async function readImageFile(
  file: string,
  shape: Shape3,
): Promise<{ image: Float32Array; source: [number, number, number] }> {
  const source = await imageFileShape(file);
  const bytes = await decodeToShape(file, shape, await sharpDecoder());
  return { image: Float32Array.from(bytes, (v) => v / 255), source };
}

/** Interleaved bytes (HWC, 1, 3 or 4 channels) to CHW bytes of `channels` by the rules at the top of this file. */
function toChw(data: Uint8Array, from: number, channels: number, plane: number): Uint8Array {
  const out = new Uint8Array(channels * plane);
  const [r, g, b] = LUMA_WEIGHTS;
  for (let p = 0; p < plane; p++) {
    const at = p * from;
    if (from < 3) {
      for (let c = 0; c < channels; c++) out[c * plane + p] = data[at];
    } else if (channels === 1) {
      out[p] = Math.round(r * data[at] + g * data[at + 1] + b * data[at + 2]);
    } else {
      for (let c = 0; c < 3; c++) out[c * plane + p] = data[at + c];
    }
  }
  return out;
}

/**
 * An image folder (one sub-folder per class, classes in sorted order) streamed at `shape`: listed now, decoded as
 * batches ask. Nothing is decoded here, so a folder of any size opens at once.
 */
export function imageFiles(root: string, options: ImageFilesOptions): ImageFileDataset {
  checkOptions('data.imageFiles', options, { shape: true, cacheDir: true, extensions: true });
  const { classNames, files } = listImageFolder(root, options.extensions);
  if (options.cacheDir !== undefined) {
    try {
      mkdirSync(options.cacheDir, { recursive: true });
    } catch (error) {
      throw new ValueError(`cannot create the image cache ${options.cacheDir} (${(error as Error).message})`);
    }
  }
  return new ImageFileDataset(
    `imageFolder ${root}`,
    files.map((f) => f.path),
    Int32Array.from(files, (f) => f.label),
    options.shape,
    classNames,
    options.cacheDir ?? null,
  );
}

registerDatasetKind('imageFiles', (spec) => {
  if (spec.kind !== 'imageFiles') throw new ValueError(`not an imageFiles spec: ${spec.kind}`);
  return new ImageFileDataset(
    spec.name,
    spec.files,
    new Int32Array(spec.labels),
    spec.shape,
    spec.classNames,
    spec.cacheDir,
  );
});
