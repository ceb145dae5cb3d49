import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateRawSync, inflateSync } from 'node:zlib';
import { adler32, crc32, deflate, encodePng, zlibCompress, type Picture } from '../../src/analysis/index.js';
import { ValueError } from '../../src/errors.js';
import { Generator } from '../../src/tensor/index.js';

interface Decoded {
  data: Uint8Array;
  info: { width: number; height: number; channels: number };
}
type Sharp = (input: Uint8Array) => {
  metadata(): Promise<{ width: number; height: number; channels: number; format: string }>;
  raw(): { toBuffer(o: { resolveWithObject: true }): Promise<Decoded> };
};

/** What sharp's raw output holds for a picture: it hands grey out as RGB, grey + alpha as RGBA. */
function asSharpOutputs(picture: Picture): Uint8Array {
  const { channels, data } = picture;
  if (channels > 2) return data;
  const pixels = data.length / channels;
  const out = new Uint8Array(pixels * (channels + 2));
  for (let p = 0; p < pixels; p++) {
    out.fill(data[p * channels], p * (channels + 2), p * (channels + 2) + 3);
    if (channels === 2) out[p * 4 + 3] = data[p * 2 + 1];
  }
  return out;
}

async function loadSharp(): Promise<Sharp> {
  // A variable keeps TypeScript from requiring sharp's types: it is an optional dependency.
  const name = 'sharp';
  return ((await import(name)) as { default: Sharp }).default;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

test('CRC-32 and Adler-32 give their published check values', () => {
  assert.equal(crc32(bytes('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(adler32(bytes('Wikipedia')), 0x11e60398);
  // Past RFC 1950's 5552-byte block, where the sums must have been reduced: 0xff × 100,000.
  const long = new Uint8Array(100_000).fill(0xff);
  let a = 1;
  let b = 0;
  for (const v of long) {
    a = (a + v) % 65521;
    b = (b + a) % 65521;
  }
  assert.equal(adler32(long), ((b << 16) | a) >>> 0);
});

test("deflate and zlib streams inflate back with Node's zlib: text, runs, noise and the empty input", () => {
  const noise = new Uint8Array(70_000);
  const generator = new Generator(5);
  for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(generator.uniform() * 256);
  const runs = Uint8Array.from({ length: 100_000 }, (_, i) => Math.floor(i / 300) % 7);
  // Repeats farther back than a match can reach (32 KB) and matches of the longest length (258).
  const far = new Uint8Array(80_000);
  far.set(noise.subarray(0, 1000), 0);
  far.set(noise.subarray(0, 1000), 40_000);
  for (const data of [
    bytes('abcabcabcabcabcX'.repeat(50)),
    runs,
    noise,
    far,
    new Uint8Array(0),
    Uint8Array.of(7),
  ]) {
    assert.deepEqual(new Uint8Array(inflateRawSync(deflate(data))), data);
    assert.deepEqual(new Uint8Array(inflateSync(zlibCompress(data))), data);
  }
  assert.ok(deflate(runs).length < runs.length / 50, 'runs compress');
});

function gradientPicture(width: number, height: number, channels: Picture['channels']): Picture {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++)
        data[(y * width + x) * channels + c] = (x * 7 + y * 13 + c * 50 + x * y) & 0xff;
  return { width, height, channels, data };
}

test('sharp decodes what encodePng writes to the same pixels: grey, grey + alpha, RGB, RGBA, odd sizes', async () => {
  const sharp = await loadSharp();
  for (const [width, height, channels] of [
    [1, 1, 1],
    [37, 23, 1],
    [16, 9, 2],
    [64, 48, 3],
    [5, 300, 4],
  ] as const) {
    const picture = gradientPicture(width, height, channels);
    const png = encodePng(picture);
    const metadata = await sharp(png).metadata();
    assert.deepEqual(
      [metadata.format, metadata.width, metadata.height, metadata.channels],
      ['png', width, height, channels],
    );
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual(new Uint8Array(data), asSharpOutputs(picture), `${width}×${height}×${channels}`);
  }
});

test('encodePng refuses a size, channel count or byte count that do not agree, each in one line', () => {
  const data = new Uint8Array(12);
  assert.throws(
    () => encodePng({ width: 0, height: 4, channels: 3, data }),
    /size 0×4 must be positive integers/,
  );
  assert.throws(
    () => encodePng({ width: 2, height: 2, channels: 5 as 3, data }),
    (e: unknown) => e instanceof ValueError && /channels must be 1, 2, 3 or 4, got 5/.test(e.message),
  );
  assert.throws(
    () => encodePng({ width: 2, height: 2, channels: 1, data }),
    /12 bytes do not make 2×2 pixels of 1/,
  );
});
