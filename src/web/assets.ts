/**
 * What the page fetches beside itself: the Fashion-MNIST subset the build extracted (raw bytes, one image after
 * another) and weights files that carry their checkpoint's meta (the model, its options, its test transform).
 */
import { io, type Tensor } from '../browser.js';

/** The build's subset.json: image counts and class names, or why the subset is missing. */
interface SubsetManifest {
  train: number;
  test: number;
  height: number;
  width: number;
  classNames: string[];
  source: string;
}

/** Images as bytes (0–255), one [height, width] grey image after another, and their labels. */
export interface ImageSet {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
}

export interface Subset {
  train: ImageSet;
  test: ImageSet;
  classNames: string[];
  source: string;
}

/** The 28×28 image `index` of a set in [0, 1], as the datasets of the library read it. */
export function imageValues(set: ImageSet, index: number): Float32Array {
  const size = set.height * set.width;
  return Float32Array.from(set.images.subarray(index * size, (index + 1) * size), (v) => v / 255);
}

async function bytes(url: URL): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * The shipped subset, or the reason it is missing (the build found no Fashion-MNIST): a string the page shows.
 */
export async function loadSubset(base: URL): Promise<Subset | string> {
  const response = await fetch(new URL('fashion-mnist/subset.json', base));
  const manifest = response.ok ? ((await response.json()) as SubsetManifest | { missing: string }) : null;
  if (manifest === null || 'missing' in manifest)
    return (
      'Fashion-MNIST is not shipped with this page: the build could not read it' +
      `${manifest === null ? '' : ` (${manifest.missing})`}; apt-get install dataset-fashion-mnist, then make web.`
    );
  const set = async (split: 'train' | 'test'): Promise<ImageSet> => ({
    images: await bytes(new URL(`fashion-mnist/${split}-images.u8`, base)),
    labels: await bytes(new URL(`fashion-mnist/${split}-labels.u8`, base)),
    count: manifest[split],
    height: manifest.height,
    width: manifest.width,
  });
  return {
    train: await set('train'),
    test: await set('test'),
    classNames: manifest.classNames,
    source: manifest.source,
  };
}

/** The part of a checkpoint's meta the page needs (train/trained.ts' TrainedMeta). */
export interface WeightsMeta {
  model: string;
  modelOptions: Record<string, unknown>;
  classNames?: string[];
  /** The test-time transform from a 28×28 image to the model's input (the library's TransformSpec). */
  transform?: unknown;
  [key: string]: unknown;
}

export interface WeightsFile {
  tensors: Map<string, Tensor>;
  meta: WeightsMeta;
  epoch: number;
  /** Test accuracy the weights reached when they were made, where the file records it. */
  testAccuracy?: number;
}

/** A single-file checkpoint (the shipped weights, the page's download): safetensors whose metadata holds its meta. */
export async function loadWeights(url: URL): Promise<WeightsFile> {
  const decoded = io.decodeSafetensors(await bytes(url));
  const { meta, epoch, testAccuracy } = decoded.metadata;
  if (meta === undefined) throw new Error(`${url.pathname}: no checkpoint meta in its safetensors metadata`);
  return {
    tensors: decoded.tensors,
    meta: JSON.parse(meta) as WeightsMeta,
    epoch: Number(epoch),
    ...(testAccuracy === undefined ? {} : { testAccuracy: Number(testAccuracy) }),
  };
}

/** The metadata that makes safetensors bytes a single-file checkpoint `convnets eval` reads. */
export function checkpointMetadata(meta: WeightsMeta, epoch: number): Record<string, string> {
  return { format: 'convnets-checkpoint', epoch: String(epoch), meta: JSON.stringify(meta) };
}
