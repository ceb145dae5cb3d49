/** Small data sets of every --data kind, written into a directory by the tests that read them. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNpy } from '../../src/io/index.js';
import { tensor } from '../../src/tensor/index.js';

/** Pixel k of image n: a value every reader must give back exactly (bytes, then / 255). */
export const pixel = (n: number, k: number) => (n * 37 + k * 11) % 256;
/** Image n's label among `classes`. */
export const labelOf = (n: number, classes: number) => (n * 7) % classes;

function idx(magic: number, dimensions: number[], values: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dimensions.length);
  header.writeUInt32BE(magic, 0);
  dimensions.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, values]);
}

/** MNIST's four files (uncompressed) with `train` and `test` images of side×side, 10 classes. */
export function writeIdxDirectory(dir: string, train: number, test: number, side = 8): void {
  mkdirSync(dir, { recursive: true });
  for (const [prefix, count, offset] of [
    ['train', train, 0],
    ['t10k', test, 1000],
  ] as const) {
    const images = Uint8Array.from({ length: count * side * side }, (_, i) =>
      pixel(offset + Math.floor(i / (side * side)), i % (side * side)),
    );
    const labels = Uint8Array.from({ length: count }, (_, n) => labelOf(offset + n, 10));
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), idx(0x803, [count, side, side], images));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), idx(0x801, [count], labels));
  }
}

/** CIFAR-10's six batch files, `perBatch` records each: label byte, then 3×32×32 pixel bytes. */
export function writeCifar10Directory(dir: string, perBatch: number): void {
  mkdirSync(dir, { recursive: true });
  const names = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat('test_batch.bin');
  names.forEach((name, b) => {
    const records = Buffer.alloc(perBatch * 3073);
    for (let r = 0; r < perBatch; r++) {
      const n = b * perBatch + r;
      records[r * 3073] = labelOf(n, 10);
      for (let k = 0; k < 3072; k++) records[r * 3073 + 1 + k] = pixel(n, k);
    }
    writeFileSync(join(dir, name), records);
  });
}

/** x.npy (float32 [N, C, H, W] in [0, 1]) and y.npy (int32), and x_test.npy / y_test.npy when `test` > 0. */
export async function writeNpyPair(
  dir: string,
  shape: [number, number, number],
  train: number,
  classes: number,
  test = 0,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const size = shape[0] * shape[1] * shape[2];
  for (const [suffix, count, offset] of [
    ['', train, 0],
    ['_test', test, 1000],
  ] as const) {
    if (count === 0) continue;
    const x = Float32Array.from(
      { length: count * size },
      (_, i) => pixel(offset + Math.floor(i / size), i % size) / 255,
    );
    const y = Int32Array.from({ length: count }, (_, n) => labelOf(offset + n, classes));
    await writeNpy(join(dir, `x${suffix}.npy`), tensor(x, [count, ...shape]));
    await writeNpy(join(dir, `y${suffix}.npy`), tensor(y, [count], { dtype: 'int32' }));
  }
}

interface SharpInstance {
  png(): { toFile(file: string): Promise<unknown> };
}
type Sharp = (
  input: Buffer | { create: unknown },
  options?: { raw: { width: number; height: number; channels: number } },
) => SharpInstance;

/** The optional package sharp, or null where it is not installed. */
export async function loadSharp(): Promise<Sharp | null> {
  try {
    const name = 'sharp';
    return ((await import(name)) as { default: Sharp }).default;
  } catch {
    return null;
  }
}

/**
 * One sub-folder per class under `dir`, `perClass` PNGs each: class c's images are the solid colour `colours[c]`
 * (RGB), each a different size (so every one must be resized).
 */
export async function writeImageFolder(
  sharp: Sharp,
  dir: string,
  colours: Record<string, [number, number, number]>,
  perClass: number,
): Promise<void> {
  for (const [name, [r, g, b]] of Object.entries(colours)) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const width = 10 + (i % 7);
      const height = 8 + (i % 5);
      const pixels = Buffer.alloc(width * height * 3);
      for (let p = 0; p < width * height; p++) pixels.set([r, g, b], 3 * p);
      await sharp(pixels, { raw: { width, height, channels: 3 } })
        .png()
        .toFile(join(dir, name, `${String(i).padStart(4, '0')}.png`));
    }
  }
}
